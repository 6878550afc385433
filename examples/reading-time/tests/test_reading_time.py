"""The reading-time transform on a temporary project, with the pipeline's own fixtures (pipeline/testing.py)."""
from datetime import date

LONG = "Peer support is a relationship of equals, built on shared experience. " * 120  # 1,320 words
POSTS = {"posts/long.md": f"---\ntitle: Peer support, at length\ndate: 2016-03-01\n---\n{LONG}\n",
         "posts/short.md": "---\ntitle: A short note\ndate: 2016-03-02\n---\nBack in April.\n"}
TOML = '[sources.blog]\ntype = "blog"\npath = "posts"\n[transforms.reading-time]\ntype = "reading-time"\n'


def test_a_long_item_gets_the_theme_and_its_feed(pipeline_project):
    project = pipeline_project(TOML, POSTS)
    project.run(as_of=date(2016, 4, 1))
    assert {item.title: item.themes for item in project.items()} == {"Peer support, at length": ["long read"],
                                                                     "A short note": []}
    assert [entry.title for entry in project.feed("themes/long-read/feed.xml").entries] == ["Peer support, at length"]
