"""Review h183 of the monthly issue as subscribers receive it: the email's HTML and plain-text parts
(templates/email/, plugins/sinks/email/), checked on real renders through the outbox."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

from pipeline.models import Kind


def _tag_around(html: str, text: str) -> str:
    """The opening tag of the element whose text starts with `text` (the email's HTML has no line breaks to go by)."""
    found = re.search(r"<(h3|p|a)\b([^>]*)>(?:<a\b[^>]*>)?" + re.escape(text), html)
    assert found, f"{text!r} not found in the email"
    return found.group(0)


def test_an_item_in_another_language_is_marked_so_in_the_email(pipeline_project, item_factory):
    """An item in Welsh on an en-GB network's site has lang="cy" on its title and text (WCAG 2.1, 3.1.2): its page
    had, while the email showed it inside <html lang="en-GB"> alone, so a screen reader read the Welsh with English
    rules. One in en-US, the site's language, gets no lang of its own."""
    welsh = item_factory(Kind.NEWS, "Cymorth gan gymheiriaid", language="cy",
                         published=datetime(2016, 1, 10, tzinfo=UTC), summary="Mae gweithwyr cymorth yn cyfarfod.")
    american = item_factory(Kind.NEWS, "Peer support in Boston", language="en-US",
                            summary="Peer workers meet monthly.", published=datetime(2016, 1, 11, tzinfo=UTC))
    project = pipeline_project(items=[welsh, american])
    project.run(as_of=date(2016, 2, 1))
    html = project.email().html

    assert 'lang="cy"' in _tag_around(html, "Cymorth gan gymheiriaid")
    assert 'lang="cy"' in _tag_around(html, "Mae gweithwyr cymorth yn cyfarfod.")
    assert "lang=" not in _tag_around(html, "Peer support in Boston")
    assert "lang=" not in _tag_around(html, "Peer workers meet monthly.")
