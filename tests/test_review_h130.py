"""Review h130: posts in a blog's subfolders, links to posts' files, and a feed with a key in its path."""

from __future__ import annotations

from datetime import date

from tests.test_withdrawn import BLOG_TOML, post_file

SITE = "https://network.example.org"


def test_a_top_level_post_keeps_its_page_when_a_subfolder_post_has_its_slug(pipeline_project):
    """A blog published `year.md` (read alone before subfolders were read); an older copy or another post at
    `2016/year.md` then has the same slug. The post already on the site keeps its page and its item; the one in
    the subfolder is the one skipped, and the problem names each file by its path in the folder."""
    project = pipeline_project(BLOG_TOML, {"blog/year.md": post_file("A year on", "2016-01-22"),
                                           "subscribers.csv": "email,name\n"})
    project.refresh(as_of=date(2016, 2, 1))
    assert "A year on" in project.site("blog/year/")

    project.write({"blog/2016/year.md": post_file("Kept for the record", "2016-01-10")})
    report = project.refresh(as_of=date(2016, 2, 1), check=False)

    assert "A year on" in project.site("blog/year/")
    assert [item.title for item in project.items()] == ["A year on"]
    (problem,) = report.problems
    assert "2016/year.md" in problem.split(":")[0] and "same slug as year.md" in problem
