"""sitemap.xml: every page of the site (not its stylesheet, scripts, feeds or calendars)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from pipeline import site
from pipeline.config import Project
from plugins.sinks.archive.writer import Planned, key

NAMESPACE = "http://www.sitemaps.org/schemas/sitemap/0.9"


def plan_sitemap(project: Project, version: str, planned: list[Planned]) -> Planned:
    paths = sorted(page.path for page in planned if page.listed)

    def make() -> bytes:
        urlset = ET.Element("urlset", {"xmlns": NAMESPACE})
        for path in paths:
            ET.SubElement(ET.SubElement(urlset, "url"), "loc").text = site.url(project, path)
        ET.indent(urlset)
        return ET.tostring(urlset, encoding="utf-8", xml_declaration=True) + b"\n"

    return Planned(site.SITEMAP, key(version, "sitemap", *paths), make, listed=False)
