"""`pipeline explain`: which item a key names (several: each listed, none explained), an item kept before theme
evidence was, and a hostile title printed as it is."""

from __future__ import annotations

import sqlite3

from pipeline.cli import main
from pipeline.models import item_id

SINK = '\n[sinks.feed]\ntype = "rss"\n'
THEMES = '[transforms.themes]\ntype = "themes"\n[transforms.themes.taxonomy]\n"peer support" = ["peer support*"]\n'
ENTRY = ("<item><title>{title}</title><link>{link}</link><guid>{guid}</guid><description>Our peer support team."
         "</description><pubDate>Fri, 15 Jan 2016 10:00:00 +0000</pubDate></item>")


def _project(write_project, *entries: tuple[str, str, str]) -> str:
    items = "".join(ENTRY.format(title=title, link=link, guid=guid) for title, link, guid in entries)
    feed = (f"<rss version='2.0'><channel><title>P</title><link>https://p.example.org/</link><description>d"
            f"</description>{items}</channel></rss>")
    config = write_project(THEMES + '[sources.p]\ntype = "feed"\nurl = "p.xml"\n' + SINK, {"p.xml": feed})
    assert main(["refresh", "-c", str(config), "--as-of", "2016-02-01"]) == 0
    return str(config)


def _ids_sharing_a_start(count: int) -> list[str]:
    """Guids whose item ids (in source p) share their first 6 characters."""
    seen: dict[str, list[str]] = {}
    n = 0
    while True:
        guid = f"g{n}"
        found = seen.setdefault(item_id("p", guid)[:6], [])
        found.append(guid)
        if len(found) == count:
            return found
        n += 1


def test_an_id_start_shared_by_several_items_lists_them_and_explains_none(write_project, capsys):
    one, two = _ids_sharing_a_start(2)
    config = _project(write_project, ("First", "https://p.example.org/1", one),
                      ("Second", "https://p.example.org/2", two))
    capsys.readouterr()
    start = item_id("p", one)[:6]

    assert main(["explain", "-c", config, start]) == 2

    err = " ".join(capsys.readouterr().err.split())
    assert "no stored item" not in err
    assert f"'{start}' does not say which item" in err
    assert item_id("p", one) in err and item_id("p", two) in err and "'First'" in err and "'Second'" in err
    assert main(["explain", "-c", config, item_id("p", two)]) == 0
    assert "Second" in capsys.readouterr().out


def test_an_underscore_in_a_key_is_no_wildcard(write_project, capsys):
    config = _project(write_project, ("Only", "https://p.example.org/1", "g1"))
    capsys.readouterr()
    ident = item_id("p", "g1")

    assert main(["explain", "-c", config, ident[:4] + "__"]) == 2
    assert "no stored item has the id or URL" in capsys.readouterr().err
    assert main(["explain", "-c", config, ident[:6]]) == 0


def test_a_link_two_items_share_lists_both(write_project, capsys):
    config = _project(write_project, ("Ours", "https://p.example.org/same", "a"),
                      ("Theirs", "https://p.example.org/same", "b"))
    capsys.readouterr()
    assert main(["explain", "-c", config, "https://p.example.org/same"]) == 2
    err = capsys.readouterr().err
    assert item_id("p", "a") in err and item_id("p", "b") in err


def test_an_item_stored_before_evidence_was_kept_is_not_said_to_have_its_themes_from_its_source(
        write_project, capsys, tmp_path):
    config = _project(write_project, ("Peer support news", "https://p.example.org/1", "g1"))
    db = sqlite3.connect(tmp_path / "state" / "pipeline.sqlite")
    with db:  # as an item stored before the themes transform kept its evidence
        db.execute("UPDATE items SET data = json_remove(data, '$.theme_evidence')")
    db.close()
    capsys.readouterr()

    assert main(["explain", "-c", config, "https://p.example.org/1"]) == 0

    out = " ".join(capsys.readouterr().out.split())
    assert "themes: peer support" in out
    assert "given by the source: peer support" not in out
    assert "no evidence kept with this item: peer support given by the source, or by the themes transform" in out


def test_a_hostile_title_is_printed_as_it_is(write_project, capsys):
    title = "[bold]Big[/bold] [link=https://evil.example/]click[/link] :warning: :thumbs_up: ends \\"
    config = _project(write_project, (title.replace("&", "&amp;"), "https://p.example.org/1", "g1"))
    capsys.readouterr()

    assert main(["explain", "-c", config, "https://p.example.org/1"]) == 0

    out = capsys.readouterr().out
    assert out.splitlines()[0] == title
    assert "\u26a0" not in out and "\U0001f44d" not in out


def test_an_items_page_on_the_site_names_it(write_project, capsys):
    """A job or event with no link of its own shows in the email only by its page on the site: that address (with
    or without index.html, a fragment or a query) names the item too."""
    from pipeline.config import load_project
    from pipeline.runner import state_path
    from pipeline.site import own_pages
    from pipeline.state import Store

    config = _project(write_project, ("Peer support worker", "https://p.example.org/1", "g1"))
    project = load_project(config)
    store = Store(state_path(project))
    try:
        [page] = [path for path, owner in own_pages(project, store).items() if owner == item_id("p", "g1")]
    finally:
        store.close()
    capsys.readouterr()
    address = f"{project.core.site_url}/{page}"
    for key in (address, f"{address}index.html", f"{address}#apply", address.rstrip("/")):
        assert main(["explain", "-c", config, key]) == 0, key
        assert "Peer support worker" in capsys.readouterr().out
    assert main(["explain", "-c", config, f"{project.core.site_url}/news/"]) == 2
    assert "the address of its page on the site" in " ".join(capsys.readouterr().err.split())


def test_a_withdrawn_item_is_explained_as_withdrawn(pipeline_project, capsys):
    """Still stored (the issues it was in show it), an item its source no longer lists is said to be withdrawn."""
    from datetime import date

    from tests.test_withdrawn import BLOG_TOML, post_file

    project = pipeline_project(BLOG_TOML, {"blog/feb.md": post_file("February post", "2016-01-25"),
                                          "subscribers.csv": "email,name\n"})
    project.refresh(as_of=date(2016, 2, 1))
    key = item_id("blog", "feb")
    assert main(["explain", "-c", str(project.config), key]) == 0
    assert "withdrawn" not in capsys.readouterr().out

    project.write({"blog/feb.md": post_file("February post", "2016-01-25", "draft: true\n")})
    project.refresh(as_of=date(2016, 2, 1))
    assert main(["explain", "-c", str(project.config), key]) == 0
    out = capsys.readouterr().out
    assert "February post" in out and "withdrawn" in out and "no longer lists it" in out


def test_the_date_is_the_items_day_where_the_network_is_as_its_page_says(write_project, capsys):
    """Published at 23:30 UTC on 4 June, an item is of 5 June in London (its page and the email say so); one
    a key names among several is listed with that day too, and no day is written with a leading zero."""
    late = ENTRY.replace("Fri, 15 Jan 2016 10:00:00", "Sat, 04 Jun 2016 23:30:00")
    same = "https://p.example.org/same"
    items = "".join(late.format(title=t, link=same, guid=g) for t, g in (("A", "a"), ("B", "b")))
    feed = (f"<rss version='2.0'><channel><title>P</title><link>https://p.example.org/</link><description>d"
            f"</description>{items}</channel></rss>")
    config = str(write_project(THEMES + '[sources.p]\ntype = "feed"\nurl = "p.xml"\n' + SINK, {"p.xml": feed}))
    assert main(["refresh", "-c", config, "--as-of", "2016-06-20"]) == 0
    capsys.readouterr()

    assert main(["explain", "-c", config, item_id("p", "a")]) == 0
    assert "news from p, 5 June 2016; id" in capsys.readouterr().out
    assert main(["explain", "-c", config, same]) == 2
    assert f"{item_id('p', 'a')} (2016-06-05, p: 'A')" in " ".join(capsys.readouterr().err.split())
