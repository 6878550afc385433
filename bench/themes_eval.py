"""How well the `themes` transform tags items, measured against hand-labelled examples.

    .venv/bin/python bench/themes_eval.py
    .venv/bin/python bench/themes_eval.py --config pipeline.toml --set tests/data/themes_labelled.toml
    .venv/bin/python bench/themes_eval.py --json bench/results/themes.json

Run it from the project root, in the project's venv. It loads the project, takes the first
transform whose component name is `themes`, builds one Item per labelled record, runs the
transform's `apply` with a real RunContext (on a temporary SQLite file), and compares each item's
`themes` with its labels. It prints micro and macro precision, recall and F1, a per-theme table,
the average number of themes per item (predicted and labelled) and the items with most errors.

Conventions:
- Only the 21 theme names in THEMES are valid labels. A predicted theme outside them counts as a
  false positive (in the micro figures, and listed under "themes outside the 21").
- Per theme, a ratio whose denominator is 0 is 0.0 (e.g. precision of a theme never predicted).
- Macro figures are the unweighted mean over the 21 themes of the per-theme P, R and F1.

It measures; it asserts nothing. `evaluate(project_path, set_path)` returns the same figures as a
dict, for tests/test_themes_quality.py.
"""

from __future__ import annotations

import argparse
import html
import json
import sys
import tempfile
import tomllib
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from pipeline.config import load_project  # noqa: E402
from pipeline.edition import start_of  # noqa: E402
from pipeline.models import EventDetails, Item, JobDetails, Kind, PriceTier, item_id  # noqa: E402
from pipeline.run_context import RunContext  # noqa: E402
from pipeline.state import Store  # noqa: E402

DEFAULT_CONFIG = ROOT / "pipeline.toml"
DEFAULT_SET = ROOT / "tests" / "data" / "themes_labelled.toml"
AS_OF = date(2016, 5, 1)
SOURCE = "themes-eval"

THEMES: tuple[str, ...] = (
    "co-production",
    "power-sharing",
    "peer support",
    "space",
    "recovery",
    "Open Dialogue",
    "commissioning",
    "education and training",
    "lived experience",
    "digital media",
    "research",
    "hearing voices",
    "governance",
    "community",
    "children and young people",
    "substance use",
    "carers and families",
    "housing",
    "employment",
    "crisis care",
    "equality and diversity",
)


# ---------------------------------------------------------------------------------------------
# The labelled set
# ---------------------------------------------------------------------------------------------

def load_labelled(set_path: Path | str) -> list[dict[str, Any]]:
    """The records of the labelled set, checked: unique ids, known kinds, known theme names."""
    path = Path(set_path)
    with path.open("rb") as fh:
        data = tomllib.load(fh)
    records = data.get("item", [])
    problems: list[str] = []
    seen: set[str] = set()
    kinds = {k.value for k in Kind}
    for n, rec in enumerate(records, 1):
        rid = rec.get("id") or f"#{n}"
        if rid in seen:
            problems.append(f"{rid}: duplicate id")
        seen.add(rid)
        for key in ("id", "kind", "title", "body", "themes"):
            if key not in rec:
                problems.append(f"{rid}: missing {key!r}")
        if rec.get("kind") not in kinds:
            problems.append(f"{rid}: kind {rec.get('kind')!r} is not one of {sorted(kinds)}")
        for theme in rec.get("themes", []):
            if theme not in THEMES:
                problems.append(f"{rid}: unknown theme {theme!r}")
        if len(set(rec.get("themes", []))) != len(rec.get("themes", [])):
            problems.append(f"{rid}: a theme is listed twice")
    if problems:
        raise ValueError(f"{path}: " + "; ".join(problems))
    return records


def body_html(body: str) -> str:
    """Paragraphs (separated by blank lines) as <p> elements; a single newline is a <br>."""
    paragraphs = [p.strip() for p in body.strip().split("\n\n") if p.strip()]
    return "\n".join(
        "<p>" + "<br>".join(html.escape(line.strip()) for line in p.splitlines()) + "</p>" for p in paragraphs
    )


def _naive_to_utc(value: Any, default: datetime) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    return default


def make_item(rec: dict[str, Any]) -> Item:
    """One Item from a labelled record, as a source would hand it over."""
    kind = Kind(rec["kind"])
    published = datetime(2016, 4, 15, 10, 0, tzinfo=UTC)
    job = event = None
    if kind is Kind.JOB:
        closing = rec.get("closing_date")
        job = JobDetails(
            organisation=rec.get("organisation", "Test organisation"),
            location=rec.get("location", ""),
            closing_date=closing if isinstance(closing, date) else date(2016, 6, 1),
            how_to_apply=rec.get("how_to_apply", ""),
        )
    if kind is Kind.EVENT:
        start = _naive_to_utc(rec.get("start"), datetime(2016, 6, 1, 9, 30, tzinfo=UTC))
        event = EventDetails(
            start=start,
            end=start + timedelta(hours=7),
            venue=rec.get("venue", ""),
            speakers=list(rec.get("speakers", [])),
            prices=[PriceTier(p["label"], Decimal(str(p["amount"]))) for p in rec.get("prices", [])],
        )
    return Item(
        id=item_id(SOURCE, rec["id"]),
        kind=kind,
        source=SOURCE,
        title=rec["title"],
        published=published,
        url=f"https://network.example.org/{kind.value}/{rec['id']}",
        body_html=body_html(rec["body"]),
        job=job,
        event=event,
    )


# ---------------------------------------------------------------------------------------------
# Running the tagger
# ---------------------------------------------------------------------------------------------

def _themes_transform(project):
    for transform in project.transforms:
        if getattr(transform, "name", None) == "themes":
            return transform
    raise LookupError(f"{project.config_path}: no transform of type 'themes'")


def predict(project_path: Path | str, records: list[dict[str, Any]]) -> tuple[dict[str, list[str]], str]:
    """{record id: predicted themes} from the project's first `themes` transform, and its instance name."""
    project = load_project(project_path)
    transform = _themes_transform(project)
    items = [make_item(rec) for rec in records]
    with tempfile.TemporaryDirectory(prefix="themes-eval-") as tmp:
        store = Store(Path(tmp) / "state.sqlite")
        run = RunContext(project, store, AS_OF, start_of(AS_OF, project.tz))
        try:
            transform.apply(items, run)
        finally:
            run.close()
            store.close()
    return {rec["id"]: list(item.themes) for rec, item in zip(records, items, strict=True)}, transform.instance


# ---------------------------------------------------------------------------------------------
# Scoring
# ---------------------------------------------------------------------------------------------

def _ratio(a: int, b: int) -> float:
    return a / b if b else 0.0


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0


def score(records: list[dict[str, Any]], predicted: dict[str, list[str]]) -> dict[str, Any]:
    per_theme: dict[str, dict[str, Any]] = {
        t: {"support": 0, "predicted": 0, "tp": 0, "false_positives": [], "false_negatives": []} for t in THEMES
    }
    unknown: Counter[str] = Counter()
    rows = []
    tp = fp = fn = 0
    for rec in records:
        gold = set(rec["themes"])
        pred = set(predicted.get(rec["id"], []))
        for theme in gold:
            per_theme[theme]["support"] += 1
        for theme in pred:
            if theme in per_theme:
                per_theme[theme]["predicted"] += 1
            else:
                unknown[theme] += 1
        for theme in gold & pred:
            per_theme[theme]["tp"] += 1
        for theme in pred - gold:
            if theme in per_theme:
                per_theme[theme]["false_positives"].append(rec["id"])
        for theme in gold - pred:
            per_theme[theme]["false_negatives"].append(rec["id"])
        tp += len(gold & pred)
        fp += len(pred - gold)
        fn += len(gold - pred)
        rows.append({
            "id": rec["id"],
            "kind": rec["kind"],
            "title": rec["title"],
            "words": len(rec["body"].split()),
            "labelled": [t for t in THEMES if t in gold],
            "predicted": sorted(pred, key=lambda t: (THEMES.index(t) if t in THEMES else len(THEMES), t)),
            "missing": [t for t in THEMES if t in gold - pred],
            "extra": sorted(pred - gold, key=lambda t: (THEMES.index(t) if t in THEMES else len(THEMES), t)),
        })
    for row in rows:
        row["errors"] = len(row["missing"]) + len(row["extra"])

    for stats in per_theme.values():
        stats["fp"] = len(stats["false_positives"])
        stats["fn"] = len(stats["false_negatives"])
        stats["precision"] = _ratio(stats["tp"], stats["tp"] + stats["fp"])
        stats["recall"] = _ratio(stats["tp"], stats["tp"] + stats["fn"])
        stats["f1"] = _f1(stats["precision"], stats["recall"])

    micro_p, micro_r = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
    n = len(records)
    return {
        "n_items": n,
        "kinds": dict(Counter(rec["kind"] for rec in records)),
        "micro": {"precision": micro_p, "recall": micro_r, "f1": _f1(micro_p, micro_r), "tp": tp, "fp": fp, "fn": fn},
        "macro": {
            key: sum(s[key] for s in per_theme.values()) / len(per_theme) for key in ("precision", "recall", "f1")
        },
        "per_theme": per_theme,
        "unknown_themes": dict(unknown),
        "avg_themes_predicted": _ratio(sum(len(set(predicted.get(r["id"], []))) for r in records), n),
        "avg_themes_labelled": _ratio(sum(len(r["themes"]) for r in records), n),
        "items_without_themes": [r["id"] for r in rows if not r["predicted"]],
        "items": rows,
    }


def evaluate(project_path: Path | str = DEFAULT_CONFIG, set_path: Path | str = DEFAULT_SET) -> dict[str, Any]:
    """Run the project's `themes` transform on the labelled set and score it against the labels."""
    records = load_labelled(set_path)
    predicted, instance = predict(project_path, records)
    result = score(records, predicted)
    result["config"] = str(Path(project_path))
    result["set"] = str(Path(set_path))
    result["transform"] = instance
    return result


# ---------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------

def report(result: dict[str, Any], worst: int = 15) -> str:
    out: list[str] = []
    kinds = ", ".join(f"{k} {v}" for k, v in sorted(result["kinds"].items()))
    out.append(f"Themes evaluation: {result['n_items']} items ({kinds})")
    out.append(f"  config {result['config']}, transform [transforms.{result['transform']}]")
    out.append(f"  labels {result['set']}")
    out.append("")
    m = result["micro"]
    out.append(f"micro  P {m['precision']:.3f}  R {m['recall']:.3f}  F1 {m['f1']:.3f}"
               f"   (tp {m['tp']}, fp {m['fp']}, fn {m['fn']})")
    a = result["macro"]
    out.append(f"macro  P {a['precision']:.3f}  R {a['recall']:.3f}  F1 {a['f1']:.3f}"
               f"   (mean over {len(THEMES)} themes)")
    out.append(f"themes per item: predicted {result['avg_themes_predicted']:.2f}, "
               f"labelled {result['avg_themes_labelled']:.2f}")
    none = result["items_without_themes"]
    out.append(f"items with no predicted theme: {len(none)}" + (f" ({', '.join(none)})" if none else ""))
    if result["unknown_themes"]:
        names = ", ".join(f"{t!r} x{n}" for t, n in sorted(result["unknown_themes"].items()))
        out.append(f"themes outside the {len(THEMES)} (counted as false positives): {names}")
    out.append("")

    width = max(len(t) for t in THEMES)
    out.append(f"{'theme':<{width}}  {'supp':>4} {'pred':>4}  {'P':>5} {'R':>5} {'F1':>5}  {'FP':>3} {'FN':>3}")
    out.append("-" * (width + 42))
    for theme in THEMES:
        s = result["per_theme"][theme]
        out.append(f"{theme:<{width}}  {s['support']:>4} {s['predicted']:>4}  {s['precision']:>5.2f} "
                   f"{s['recall']:>5.2f} {s['f1']:>5.2f}  {s['fp']:>3} {s['fn']:>3}")
    out.append("")
    out.append("false positives / false negatives by theme (item ids):")
    for theme in THEMES:
        s = result["per_theme"][theme]
        if s["false_positives"] or s["false_negatives"]:
            fps, fns = " ".join(s["false_positives"]) or "-", " ".join(s["false_negatives"]) or "-"
            out.append(f"  {theme}: FP {fps} | FN {fns}")
    out.append("")

    rows = sorted((r for r in result["items"] if r["errors"]), key=lambda r: (-r["errors"], r["id"]))[:worst]
    out.append(f"items with most errors (top {len(rows)}):")
    for r in rows:
        out.append(f"  {r['id']} ({r['kind']}, {r['words']} words, {r['errors']} errors)"
                   f"  missing: {', '.join(r['missing']) or '-'}  |  extra: {', '.join(r['extra']) or '-'}")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(DEFAULT_CONFIG), help="pipeline.toml (default: the shipped one)")
    parser.add_argument("--set", dest="set_path", default=str(DEFAULT_SET), help="the labelled set (TOML)")
    parser.add_argument("--json", dest="json_path", help="also write the figures to this JSON file")
    parser.add_argument("--worst", type=int, default=15, help="how many worst items to list (default 15)")
    args = parser.parse_args(argv)
    result = evaluate(args.config, args.set_path)
    print(report(result, worst=args.worst))
    if args.json_path:
        path = Path(args.json_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"\nfigures written to {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
