"""The `summary` transform over a labelled set of texts (tests/data/summaries.toml): no defects.

A defect is any of: the summary does not open with the labelled lead (a salutation or a heading
taken as the lead, a bad first split); it holds a forbidden text (a heading, link text, a sign-off,
a label line); it is not made of whole sentences of the body's own blocks (a heading glued onto a
sentence, a sentence cut mid-way or marked with an ellipsis, a split after an abbreviation, a time or
an amount); it is longer than `max_chars`. These checks read the body with the pipeline's own
`html_to_text` (one line per block), not with the transform's code.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from pipeline.sanitize import html_to_text

DATA = Path(__file__).parent / "data" / "summaries.toml"
CASES = tomllib.loads(DATA.read_text(encoding="utf-8"))["text"]
DEFAULTS = {"max_chars": 300, "max_sentences": 3}

_END = re.compile(r"[.!?…][\"'”’)\]]*")
# A sentence starts at the start of a line, after a sentence end, or after link text that was left
# out ("… Read more → The network …"); after a short "Label:" or a salutation ("Dear all, we are …",
# "Dear All Below are …") at the start of a line.
_STARTS_AFTER = re.compile(r"(?:^|[.!?…][\"'”’)\]]*\s+|[→»›]\s+)$")
_LABEL_BEFORE = re.compile(r"^[A-Z][\w’' -]{0,30}:\s+$")
_SALUTATION_BEFORE = re.compile(r"^(?:dear|hi|hello|hey|greetings)\b[^.!?]{0,40}?[,!]?\s+$", re.I)
_ABBREVIATION_END = re.compile(
    r"(?:^|[\s(“‘])(?:Dr|St|Prof|Mr|Mrs|Ms|No|Nos|Rev|approx|cf|vs|pp|p|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|"
    r"Nov|Dec|e\.g|i\.e|[A-Z])\.$")
# Link text left in: the words standing alone ("… Read more The network …", "… Read more"), or an arrow.
_LINK_TEXT = re.compile(r"(?i:read more|continue reading|click here|find out more)(?:[\s.!]*$|\s*[→»›]|\s+[A-Z])|[→»›]")
_SALUTATION = re.compile(r"^(?:dear|hi|hello|hey|greetings)\b", re.I)


def fold(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def source_lines(body: str) -> list[str]:
    if "<" not in body:  # a plain-text body: blank lines end paragraphs
        return [fold(p) for p in re.split(r"\n\s*\n", body) if p.strip()]
    return [fold(line) for line in html_to_text(body).split("\n") if line.strip()]


def _found(chunk: str, lines: list[str]) -> tuple[str, int] | None:
    """Where `chunk` stands in a line as whole sentences: (line, end) or None."""
    for line in lines:
        for variant in {chunk, chunk[:1].lower() + chunk[1:]}:
            start = line.find(variant)
            while start != -1:
                end, before = start + len(variant), line[:start]
                starts = _SALUTATION_BEFORE.match(before) or (
                    variant == chunk and (_STARTS_AFTER.search(before) or _LABEL_BEFORE.match(before)))
                if starts and (end == len(line) or line[end] == " "):
                    return line, end
                start = line.find(variant, start + 1)
    return None


def whole_sentence_defects(summary: str, lines: list[str]) -> list[str]:
    """Cut the summary into the fewest chunks each of which is whole sentences of one source line."""
    ends = [m.end() for m in _END.finditer(summary) if m.end() == len(summary) or summary[m.end()] == " "]
    if not ends or ends[-1] != len(summary):
        return [f"does not end a sentence (cut mid-way?): …{summary[-40:]!r}"]
    best: dict[int, list[tuple[int, int]]] = {0: []}  # where a chunk may start → the chunks before it
    for start in [0] + [e + 1 for e in ends]:
        if start not in best:
            continue
        for end in ends:
            if end > start and (end + 1 not in best or len(best[end + 1]) > len(best[start]) + 1):
                if _found(summary[start:end], lines):
                    best[end + 1] = best[start] + [(start, end)]
    if len(summary) + 1 not in best:
        rest = summary[max(best):]
        if rest.endswith(("…", "...")) and rest not in " ".join(lines):
            return [f"a sentence cut mid-way with an ellipsis: {rest!r}"]
        return [f"not whole sentences of one block (a heading glued on, or text cut or changed) from: {rest[:80]!r}"]
    problems = []
    for start, end in best[len(summary) + 1]:
        chunk = summary[start:end]
        line, at = _found(chunk, lines)
        if at < len(line) and _ABBREVIATION_END.search(chunk):
            problems.append(f"split after an abbreviation: {chunk[-30:]!r} + {line[at:at + 30]!r}")
        if "…" in chunk or "..." in chunk:
            if chunk not in line:
                problems.append(f"an ellipsis not in the text: {chunk!r}")
    return problems


def defects(case: dict, summary: str) -> list[str]:
    """Every defect of `summary` for the labelled `case`, each as one line."""
    case = {**DEFAULTS, **case}
    found = []
    lead = case["lead"]
    if not lead:
        if summary:
            found.append(f"expected no summary (no real sentence), got {summary!r}")
        return found
    if not summary:
        return ["empty summary"]
    if not (summary == lead or summary.startswith(lead + " ")):
        found.append(f"lead: expected {lead!r}, got {summary[:len(lead) + 20]!r}")
    if _SALUTATION.match(summary):
        found.append(f"a salutation as the lead: {summary[:40]!r}")
    if _LINK_TEXT.search(summary):
        found.append(f"link text in the summary: {_LINK_TEXT.search(summary).group(0)!r}")
    for text in case.get("forbidden", []):
        if text in summary:
            found.append(f"forbidden text {text!r}")
    for text in case.get("contains", []):
        if text not in summary:
            found.append(f"missing {text!r}")
    if "summary" in case and summary != case["summary"]:
        found.append(f"expected exactly {case['summary']!r}")
    if len(summary) > case["max_chars"]:
        found.append(f"{len(summary)} characters, over max_chars {case['max_chars']}")
    found += whole_sentence_defects(summary, source_lines(case["body"]))
    return found


def test_the_labelled_set_is_big_and_varied():
    assert len(CASES) >= 30
    assert len({c["id"] for c in CASES}) == len(CASES)
    assert {c["kind"] for c in CASES} >= {"post", "news", "job", "event", "notes"}


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_summary_has_no_defect(case, project_from, run_context, item_factory):
    settings = {**DEFAULTS, **{k: case[k] for k in DEFAULTS if k in case}}
    project = project_from(f'[transforms.s]\ntype = "summary"\nmax_chars = {settings["max_chars"]}\n'
                           f'max_sentences = {settings["max_sentences"]}\n\n[sinks.feed]\ntype = "rss"\n')
    item = item_factory(title=case["id"], body_html=case["body"])
    project.transforms[0].apply([item], run_context(project))
    found = defects(case, item.summary)
    assert not found, f"{case['id']}: summary {item.summary!r}\n  " + "\n  ".join(found)


@pytest.mark.parametrize("summary, problem", [
    ("Co-production and research People are expected to stay in one role: service user, volunteer or peer "
     "support worker, or paid professional.", "not whole sentences"),
    ("People are expected to stay in one role: service user, volunteer…", "cut mid-way"),
    ("People are expected to stay in one role: service user, volunteer or peer support worker, or paid "
     "professional. Co-production means parity of…", "cut mid-way"),
])
def test_the_checker_itself_finds_glued_headings_and_cuts(summary, problem):
    case = next(c for c in CASES if c["id"] == "heading-then-paragraph")
    assert any(problem in d for d in defects(case, summary))


def test_the_checker_itself_finds_a_split_after_an_abbreviation():
    case = next(c for c in CASES if c["id"] == "abbreviations-dr-st-prof")
    found = defects(case, "Prof. Peter Kinderman chairs the panel that follows. Dr.")
    assert any("split after an abbreviation" in d for d in found)
