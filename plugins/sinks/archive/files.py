"""The sources' own files the site publishes as they are (`Source.site_files`: the blog's images and PDFs)."""

from __future__ import annotations

from pipeline import site
from pipeline.run_report import failure_reason
from plugins.sinks.archive.builder import Site
from plugins.sinks.archive.writer import Planned, key


def plan_files(built: Site, planned: list[Planned]) -> list[Planned]:
    """Each file a source names, where no page of the site is; one that cannot be published is a problem of the
    run, named, and the rest go on."""
    run, taken = built.run, {page.path for page in planned}
    files = []
    for source in built.project.sources:
        try:
            named = list(source.site_files())
        except Exception as exc:  # a third-party source's own method: reported by name, the site still made
            run.problem(f"source {source.instance}", f"site_files() raised {failure_reason(exc)}; its files are "
                                                      f"not published")
            continue
        for address, file in named:
            path = site.file_path(built.project, str(address))
            if path is None or path in taken:
                run.problem(f"source {source.instance}", f"{address}: not published, since it is not an image or a "
                            f"PDF under site_url, or a page of the site is there", skipped=False)
                continue
            try:
                stat = file.stat()
            except OSError as exc:
                run.problem(str(file), f"cannot be read ({exc.strerror}); not published", skipped=False)
                continue
            taken.add(path)
            files.append(Planned(path, key(built.version, "file", file, stat.st_size, stat.st_mtime_ns),
                                 file.read_bytes, listed=False))
    return files
