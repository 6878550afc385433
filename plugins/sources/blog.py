"""`blog`: Markdown posts with YAML front matter, one file each, from a folder."""

from __future__ import annotations

import re
from datetime import date, datetime
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from pipeline import hookimpl, site
from pipeline.components import Settings, Source
from pipeline.dates import aware
from pipeline.models import Item, Kind, item_id
from pipeline.run_context import RunContext
from pipeline.sanitize import image_url, plain_text, safe_url
from pipeline.settings_types import ExistingDir, HttpUrl
from plugins.sources.text import markdown_to_html


class BlogSource(Source):
    """Every `*.md` file in `path`, in its subfolders too: front matter `title` and `date` required; `author`,
    `slug`, `url`, `themes`, `draft`, `image` (the lead image) and `image_alt` optional.

    An image or a PDF kept in the folder (`site.FILE_SUFFIXES`) is published with the site at `base_url` plus its
    path in the folder, and a post's relative link to it (`image: lead.jpg`, `![Group](photos/group.jpg)`, read
    from where the post's file is) names that address, as a link to another post's file (`2016/year.md`) names
    that post's page; any other relative link is read from the post's URL.

    A folder per post, as Hugo's leaf bundles are (`post-a/index.md`, its images beside it), is the post named by
    its folder (`post-a`), and a link to the folder (`post-a/`) names its page too."""

    name = "blog"
    _as_index: Path | None = None  # a folder's post an earlier version published as `index` (`_published_as_index`)
    complete = True  # the whole list: what it no longer has was taken out (the run withdraws it)
    description = "Markdown posts with front matter from a folder"

    class Settings(Settings):
        path: ExistingDir
        author: str = ""
        base_url: HttpUrl | None = None  # where posts are published; default <site_url>/blog/

    def uses_http(self) -> bool:
        return False  # a local file

    def fetch(self, run: RunContext):
        folder = self.settings.path
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder}: folder not found; create it or fix [sources.{self.instance}] path")
        base = self._base()
        first: dict[str, Path] = {}  # the post that has each id
        loaded = [(path, post) for path in self._post_files() if (post := self._load(path, run)) is not None]
        self._as_index = self._published_as_index(loaded, run)
        posts = []
        for path, post in loaded:
            ident = item_id(self.instance, self._slug(path, post))
            if ident in first:
                run.problem(str(path), f"has the same slug as {first[ident].relative_to(folder)}; give one of them a "
                                       f"`slug:` of its own in the front matter, post skipped")
                continue
            first[ident] = path
            posts.append((path, post))
        pages = self._pages(posts, base)
        for path, post in posts:
            yield self._item(path, post, base, pages, run)

    def _published_as_index(self, loaded: list, run: RunContext) -> Path | None:
        """The post of a folder of its own (`post-a/index.md`) that an earlier version, which named each such post
        `index`, published as the post `index`: the first post so named, when it is a folder's and the state holds
        the item `index`, not withdrawn. It keeps that name, and so its page and its id: it is not sent again as a new
        post. (A withdrawn one was the folder's own `index.md`, since deleted; none while a post says `slug: index`.)"""
        self._as_index = None  # (each post's own slug, below)
        earlier = next((path for path, post in loaded if not post.metadata.get("slug") and path.stem == "index"), None)
        if earlier is None or not _bundled(earlier.relative_to(self.settings.path)):
            return None
        if any(self._slug(path, post) == "index" for path, post in loaded):  # `slug: index`: that post's item
            return None
        ident = item_id(self.instance, "index")
        listed = run.store.published_dates([ident]) and run.store.withdrawn_at(ident) is None
        return earlier if listed else None

    def _pages(self, posts: list, base: str) -> dict[Path, str]:
        """The page of each post by its file's real path, and of each post kept in a folder of its own
        (`post-a/index.md`) by its folder's too: what a link to either names."""
        folder, pages = self.settings.path, {}
        for path, post in posts:
            pages[path.resolve()] = url = self._url(path, post, base)
            if _bundled(path.relative_to(folder)):
                pages.setdefault(path.parent.resolve(), url)
        return pages

    def _base(self) -> str:
        return (self.settings.base_url or f"{self.project.core.site_url}/blog/").rstrip("/") + "/"

    def _post_files(self) -> list[Path]:
        """Every `*.md` file in the folder, in a subfolder too (`2016/notes.md`), but not in a hidden folder or in
        the site's or the state folder; the folder's own first, so that of two with one slug the post read before
        subfolders were keeps its page (`2016/year.md` is the one skipped, not `year.md`)."""
        folder = self.settings.path
        found = [file for file in folder.rglob("*.md")
                 if file.is_file() and self._own(file, folder) and not _set_aside(file.relative_to(folder))]
        return sorted(found, key=lambda file: (len(file.relative_to(folder).parts), file))

    def _own(self, file: Path, folder: Path) -> bool:
        """Whether `file` of `folder` is the source's: not hidden or in a hidden folder, nor in the site's or the
        state folder (the site written inside the blog's folder)."""
        core = self.project.core
        return (not any(part.startswith(".") for part in file.relative_to(folder).parts)
                and not any(file.resolve().is_relative_to(own.resolve()) for own in (core.out_dir, core.state_dir)))

    def site_files(self) -> list[tuple[str, Path]]:
        """Every image and PDF in the folder, at `base_url` plus its path there (the site publishes those its posts
        link): not a hidden one, one whose real path is outside the folder (a link), or one in the site's or the state
        folder (the site written inside the blog's folder)."""
        folder, base = self.settings.path.resolve(), self._base()
        if not folder.is_dir():
            return []
        found = []
        for file in sorted(folder.rglob("*")):
            if (file.suffix.lower() in site.FILE_SUFFIXES and self._shareable(file.resolve(), folder)
                    and self._own(file, folder)):
                found.append((base + quote(file.relative_to(folder).as_posix()), file))
        return found

    @staticmethod
    def _shareable(target: Path, folder: Path) -> bool:
        """Whether the file at `target` (a real path) is in `folder` (a real path), and a file."""
        return target.is_relative_to(folder) and target.is_file()

    def _own_file(self, reference: str, post: Path, base: str, pages: dict[Path, str]) -> str | None:
        """The address of the image or PDF of the folder, or the page of the post (`pages`: by its file's real
        path), that a relative link of the post at `post` names (read from the post's file, as an editor previewing
        it reads it), or None."""
        try:
            parts = urlsplit(reference)
        except ValueError:
            return None
        if parts.scheme or parts.netloc or not parts.path or parts.path.startswith("/"):
            return None
        folder = self.settings.path.resolve()
        target = (post.parent / unquote(parts.path)).resolve()
        fragment = f"#{parts.fragment}" if parts.fragment else ""
        if pages.get(target):
            return pages[target] + fragment
        if target.suffix.lower() not in site.FILE_SUFFIXES or not self._shareable(target, folder):
            return None
        inside = target.relative_to(folder)
        if any(part.startswith(".") for part in inside.parts):
            return None
        return base + quote(inside.as_posix()) + fragment

    def _load(self, path: Path, run: RunContext):
        """The post at `path` (a `frontmatter.Post`) if it is one to publish; None for a draft, and for one that
        cannot be (said as a problem)."""
        import frontmatter  # here: a run of a project without posts never loads the YAML parser
        import yaml

        try:
            post = frontmatter.loads(path.read_text(encoding="utf-8"))
        except (yaml.YAMLError, ValueError, UnicodeDecodeError) as exc:
            reason = str(exc).replace("\n", " ")
            run.problem(str(path), f"front matter is not valid YAML ({reason}); fix it, post skipped")
            return None
        meta = post.metadata
        missing = [key for key in ("title", "date") if not meta.get(key)]
        if missing:
            run.problem(str(path), f"front matter lacks {' and '.join(missing)}; add it, post skipped")
            return None
        when = _moment(meta["date"])
        if when is None:
            run.problem(str(path), f"date {meta['date']!r} is not a date like 2016-04-20 (or a moment like "
                                   f"2016-04-20 10:00:00 +0100); post skipped")
            return None
        meta["date"] = when
        draft = meta.get("draft")
        if isinstance(draft, str) and draft.strip().lower() in _WORDS:  # `draft: "false"`: YAML reads text
            draft = _WORDS[draft.strip().lower()]
        elif draft and not isinstance(draft, bool):
            run.problem(str(path), f"draft {draft!r} is neither true nor false; write draft: true or draft: false; "
                                   f"post left unpublished")
        return None if draft else post

    def _slug(self, path: Path, post) -> str:
        """The front matter's `slug`; else, for a post kept in a folder of its own (`post-a/index.md`), the folder's
        name; else the file's (`notes.md`: `notes`)."""
        inside = path.relative_to(self.settings.path)
        if path == self._as_index:  # published as `index` by an earlier version (`_published_as_index`)
            return "index"
        return str(post.metadata.get("slug") or (inside.parent.name if _bundled(inside) else inside.stem))

    def _url(self, path: Path, post, base: str) -> str:
        return safe_url(str(post.metadata.get("url") or base + self._slug(path, post) + "/"))

    def _item(self, path: Path, post, base: str, pages: dict[Path, str], run: RunContext) -> Item:
        meta, url = post.metadata, self._url(path, post, base)
        themes = meta.get("themes") or []
        if not isinstance(themes, list):
            run.problem(str(path), f"themes {themes!r} is not a list; write it as themes: [{themes}]; "
                                   f"post kept without them", skipped=False)
            themes = []
        def own_file(reference: str) -> str | None:
            return self._own_file(reference, path, base, pages)

        image = str(meta.get("image") or "")
        image = image_url(self._own_file(image, path, base, {}) or image, url)  # (a file, never a post's page)
        if meta.get("image") and not image:
            run.problem(str(path), f"image {meta['image']!r} is neither an http(s) address nor a path; "
                                   f"post kept without it", skipped=False)
        return Item(
            id=item_id(self.instance, self._slug(path, post)),
            kind=Kind.POST,
            source=self.instance,
            title=plain_text(str(meta["title"])),
            published=aware(meta["date"], self.project.tz),
            url=url,
            body_html=markdown_to_html(post.content, url, own_file),
            author=plain_text(str(meta.get("author") or self.settings.author)),
            image=image,
            image_alt=plain_text(str(meta.get("image_alt") or "")) if image else "",
            themes=[str(t) for t in themes],
        )


# A draft's value written as text (quoted, or as YAML 1.2 reads only true and false): as the word says.
_WORDS = {"true": True, "yes": True, "on": True, "false": False, "no": False, "off": False}
_OFFSET_APART = re.compile(r"\s+(?=(?:Z|[+-]\d\d:?\d\d)$)", re.I)


def _moment(value: object) -> date | datetime | None:
    """A post's `date`: a date or a date-time as YAML read it, or text that YAML leaves as text but that says one: ISO
    8601 with an offset without its colon or a time without seconds (`2016-04-21 10:00`), or as Jekyll writes it, the
    offset apart (`2016-04-20 10:00:00 +0100`); None for anything else."""
    if isinstance(value, date):  # a datetime is a date too
        return value
    if not isinstance(value, str):
        return None
    text = _OFFSET_APART.sub("", value.strip())
    for read in (date.fromisoformat, datetime.fromisoformat):
        try:
            return read(text)
        except ValueError:
            pass
    return None


def _set_aside(inside: Path) -> bool:
    """Whether a `.md` file (its path in the folder) is no post: a README, a section's page as Hugo has it
    (`_index.md`), or one in a subfolder kept for drafts (`drafts/`, or any whose name starts with "_", `_drafts/` as
    Jekyll has it). Before subfolders were read, a folder of drafts beside the posts was never published; it must
    not be by an upgrade."""
    return inside.name.lower() in ("readme.md", "_index.md") or any(
        part.lower() == "drafts" or part.startswith("_") for part in inside.parts[:-1])


def _bundled(inside: Path) -> bool:
    """Whether a post's file (its path in the folder) is the post of its own folder, as in Hugo's leaf bundles:
    `post-a/index.md`. The folder's own `index.md` is not: it was read as the post `index` before subfolders were."""
    return inside.name.lower() == "index.md" and len(inside.parts) > 1


@hookimpl
def register_sources(register):
    register(BlogSource)
