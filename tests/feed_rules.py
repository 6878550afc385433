"""The W3C feed validator's rules for RSS 2.0, as one checker every feed test uses.

There is no validator to install from PyPI, so the rules it applies to an RSS 2.0 feed are written out
here (after its source, github.com/w3c/feedvalidator: channel.py, item.py, validators.py, logging.py),
errors and the warnings its default ("AA") level reports alike:

- the document: well-formed XML, `<rss version="2.0">` with one `<channel>`, no element the spec or a
  declared extension does not define (UndefinedElement), no element given twice where one is allowed;
- the channel: `title`, `link`, `description` present and not blank (MissingTitle, MissingLink,
  MissingDescription), `language` (MissingDCLanguage), no HTML in its `description` (ContainsHTML),
  an `atom:link rel="self"` whose `href` is where the feed is published (MissingAtomSelfLink,
  SelfDoesntMatchLocation);
- dates (`pubDate`, `lastBuildDate`): RFC 822 as RFC 2822 writes it, four-digit year, the right day of
  the week, not before 1990 (InvalidRFC2822Date, IncorrectDOW, ImplausibleDate);
- every URL (`link`, a permalink `guid`, `atom:link`) absolute (InvalidFullLink, InvalidHttpGUID);
- items: a title or a description, a title not blank and without HTML, a `guid` (MissingGuid), unique
  (DuplicateValue), `isPermaLink` "true" or "false", a permalink guid a full URL, another guid not a
  small number (NotSufficientlyUnique); `author` only as an email address; `category` not blank, with
  no attribute but `domain`;
- HTML in `description` and `content:encoded`: only the validator's acceptable elements and attributes
  (SecurityRisk, SecurityRiskAttr), no relative URL in any `href` or `src` (ContainsRelRef), and the
  `description` before the `content:encoded` (NeedDescriptionBeforeContent);
- `content:encoded`, `dc:creator` and `atom:link` under their declared namespaces.

`problems(data, self_url)` lists what breaks a rule; `assert_valid(data, self_url)` fails a test with them.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import date
from email.utils import parsedate_to_datetime
from html.parser import HTMLParser
from urllib.parse import urlsplit

ATOM = "http://www.w3.org/2005/Atom"
DC = "http://purl.org/dc/elements/1.1/"
CONTENT = "http://purl.org/rss/1.0/modules/content/"

CHANNEL_ELEMENTS = {
    "title", "link", "description", "language", "copyright", "managingEditor", "webMaster", "pubDate",
    "lastBuildDate", "category", "generator", "docs", "cloud", "ttl", "image", "rating", "textInput",
    "skipHours", "skipDays", "item", f"{{{ATOM}}}link", f"{{{DC}}}creator", f"{{{DC}}}rights",
}
ITEM_ELEMENTS = {
    "title", "link", "description", "author", "category", "comments", "enclosure", "guid", "pubDate", "source",
    f"{{{CONTENT}}}encoded", f"{{{DC}}}creator", f"{{{ATOM}}}link",
}
ONCE = {"title", "link", "description", "language", "pubDate", "lastBuildDate", "guid", "generator", "ttl",
        f"{{{CONTENT}}}encoded", "author", "comments", "source"}
# validators.py, HTMLValidator.acceptable_elements / acceptable_attributes
SAFE_ELEMENTS = set("""a abbr acronym address area article aside audio b big blockquote br button canvas caption
center cite code col colgroup command datagrid datalist dd del details dfn dialog dir div dl dt em event-source
fieldset figcaption figure footer font form header h1 h2 h3 h4 h5 h6 hr i img input ins keygen kbd label legend li
m map menu meter multicol nav nextid ol output optgroup option p pre progress q s samp section select small sound
source spacer span strike strong sub sup table tbody td textarea time tfoot th thead tr tt u ul var video noscript
wbr""".split())
SAFE_ATTRIBUTES = set("""abbr accept accept-charset accesskey action align alt autoplay autocomplete autofocus axis
background balance bgcolor bgproperties border bordercolor bordercolordark bordercolorlight bottompadding
cellpadding cellspacing ch challenge char charoff choff charset checked cite class clear color cols colspan compact
contenteditable coords data datafld datapagesize datasrc datetime default delay dir disabled draggable dynsrc
enctype end face for form frame galleryimg gutter headers height hidefocus hidden high href hreflang hspace icon id
inputmode ismap keytype label leftspacing lang list longdesc loop loopcount loopend loopstart low lowsrc max
maxlength media method min multiple name nohref noshade nowrap open optimum pattern ping point-size prompt pqg
radiogroup readonly rel repeat-max repeat-min replace required rev rightspacing rows rowspan rules scope selected
shape size span src srcset start step summary suppress tabindex target template title toppadding type unselectable
usemap urn valign value variable volume vspace vrml width wrap xml:lang xmlns""".split())
HTML_END_TAG = re.compile(r"</(\w+)>")
# validators.py: rfc2396_full and rfc822.rfc2822_re
FULL_URL = re.compile(r"[a-zA-Z][0-9a-zA-Z+\-.]*:(//)?[0-9a-zA-Z;/?:@&=+$.\-_!~*'()%,#]+$")
RFC2822 = re.compile(r"((Mon|Tue|Wed|Thu|Fri|Sat|Sun), )?\d\d? (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
                     r"\d\d\d\d \d\d:\d\d(:\d\d)? (([+-]?\d\d[03]0)|UT|GMT|EST|EDT|CST|CDT|MST|MDT|PST|PDT|Z)$")
LANGUAGE = re.compile(r"^[a-zA-Z]{2,3}(-[a-zA-Z0-9]{2,8})*$")


def assert_valid(data: bytes, self_url: str, ignore: frozenset[str] = frozenset()) -> None:
    """Fail with every rule `data` breaks; `ignore` names rules a test means to break (see `problems`)."""
    found = [p for p in problems(data, self_url) if p.split(":", 1)[0] not in ignore]
    assert not found, "the feed breaks the validator's rules:\n" + "\n".join(found)


def problems(data: bytes, self_url: str) -> list[str]:
    """Each broken rule as 'RuleName: where and what'."""
    out: list[str] = []
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        return [f"NotWellFormed: {exc}"]
    if not data.startswith((b"<?xml version='1.0'", b'<?xml version="1.0"')):
        out.append("MissingXmlDeclaration: the document does not start with an XML declaration")
    if root.tag != "rss" or root.get("version") != "2.0":
        return out + [f"NotRss20: root is <{root.tag} version={root.get('version')!r}>"]
    channels = root.findall("channel")
    if len(channels) != 1 or len(root) != 1:
        return out + [f"UndefinedElement: <rss> holds {[c.tag for c in root]}, not one <channel>"]
    channel = channels[0]
    _namespaces(data, root, out)
    _children(channel, "channel", CHANNEL_ELEMENTS, out)
    for name, rule in (("title", "MissingTitle"), ("link", "MissingLink"), ("description", "MissingDescription")):
        if not (channel.findtext(name) or "").strip():
            out.append(f"{rule}: channel has no {name}")
    language = channel.findtext("language")
    if language is None:
        out.append("MissingDCLanguage: channel has no language")
    elif not LANGUAGE.match(language):
        out.append(f"InvalidLanguage: {language!r}")
    if HTML_END_TAG.search(channel.findtext("description") or ""):
        out.append("ContainsHTML: channel description holds HTML")
    _url(channel.findtext("link"), "InvalidFullLink", "channel link", out)
    _date(channel.findtext("lastBuildDate"), "channel lastBuildDate", out, required=False)
    _self_link(channel, self_url, out)

    guids: set[str] = set()
    for number, item in enumerate(channel.findall("item"), 1):
        _item(item, f"item {number}", guids, out)
    return out


def _namespaces(data: bytes, root: ET.Element, out: list[str]) -> None:
    """Every extension element used is under its usual, declared namespace."""
    text = data.decode("utf-8", "replace")
    for uri, prefix in ((CONTENT, "content"), (DC, "dc"), (ATOM, "atom")):
        if any(element.tag.startswith(f"{{{uri}}}") for element in root.iter()):
            if f'xmlns:{prefix}="{uri}"' not in text:
                out.append(f"UndeclaredNamespace: {prefix}: is used but xmlns:{prefix}=\"{uri}\" is not declared")


def _children(parent: ET.Element, where: str, allowed: set[str], out: list[str]) -> None:
    seen: dict[str, int] = {}
    for child in parent:
        if child.tag not in allowed:
            out.append(f"UndefinedElement: <{child.tag}> in {where}")
        seen[child.tag] = seen.get(child.tag, 0) + 1
    for tag, count in seen.items():
        if tag in ONCE and count > 1:
            out.append(f"DuplicateElement: {count} <{tag}> in {where}")


def _url(value: str | None, rule: str, where: str, out: list[str]) -> None:
    if value is None:
        return
    if not FULL_URL.match(value) or urlsplit(value).scheme not in {"http", "https"} or not urlsplit(value).netloc:
        out.append(f"{rule}: {where} is not an absolute http(s) URL: {value!r}")


def _date(value: str | None, where: str, out: list[str], required: bool = True) -> None:
    if value is None:
        if required:
            out.append(f"MissingElement: {where}")
        return
    if not RFC2822.match(value):
        out.append(f"InvalidRFC2822Date: {where} {value!r}")
        return
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError) as exc:
        out.append(f"InvalidRFC2822Date: {where} {value!r} ({exc})")
        return
    if "," in value and parsed.strftime("%a") != value[:3]:
        out.append(f"IncorrectDOW: {where} {value!r}")
    if parsed.date() < date(1990, 1, 1):
        out.append(f"ImplausibleDate: {where} {value!r}")


def _self_link(channel: ET.Element, self_url: str, out: list[str]) -> None:
    links = [link for link in channel.findall(f"{{{ATOM}}}link") if link.get("rel") == "self"]
    if not links:
        out.append("MissingAtomSelfLink: channel has no atom:link rel=\"self\"")
        return
    for link in links:
        if link.get("href") != self_url:
            out.append(f"SelfDoesntMatchLocation: atom:link self is {link.get('href')!r}, the feed is at {self_url!r}")
        if link.get("type") not in (None, "application/rss+xml"):
            out.append(f"InvalidMIMEAttribute: atom:link self type {link.get('type')!r}")


def _item(item: ET.Element, where: str, guids: set[str], out: list[str]) -> None:
    _children(item, where, ITEM_ELEMENTS, out)
    title, description = item.find("title"), item.find("description")
    if title is None and description is None:
        out.append(f"ItemMustContainTitleOrDescription: {where}")
    if title is not None:
        if not (title.text or "").strip():
            out.append(f"NotBlank: {where} title is blank")
        elif HTML_END_TAG.search(title.text):
            out.append(f"ContainsHTML: {where} title {title.text!r}")
    _url(item.findtext("link"), "InvalidFullLink", f"{where} link", out)
    _date(item.findtext("pubDate"), f"{where} pubDate", out, required=False)
    _guid(item.find("guid"), where, guids, out)
    if item.find("author") is not None and "@" not in (item.findtext("author") or ""):
        out.append(f"InvalidContact: {where} author is not an email address")
    for category in item.findall("category"):
        if not (category.text or "").strip():
            out.append(f"NotBlank: {where} has an empty category")
        if set(category.attrib) - {"domain"}:
            out.append(f"UnexpectedAttribute: {where} category {sorted(category.attrib)}")
    tags = [child.tag for child in item]
    encoded = f"{{{CONTENT}}}encoded"
    if encoded in tags and ("description" not in tags or tags.index("description") > tags.index(encoded)):
        out.append(f"NeedDescriptionBeforeContent: {where}")
    for tag in ("description", encoded):
        element = item.find(tag)
        if element is not None:
            _html(element.text or "", f"{where} {tag.rsplit('}', 1)[-1]}", out)


def _guid(guid: ET.Element | None, where: str, guids: set[str], out: list[str]) -> None:
    if guid is None:
        out.append(f"MissingGuid: {where}")
        return
    value = guid.text or ""
    if value in guids:
        out.append(f"DuplicateValue: {where} guid {value!r} is not unique")
    guids.add(value)
    flag = guid.get("isPermaLink", "true")
    if flag not in ("true", "false"):
        out.append(f"InvalidBooleanAttribute: {where} isPermaLink={flag!r}")
    elif flag == "true":
        _url(value, "InvalidHttpGUID", f"{where} permalink guid", out)
    elif len(value) < 9 and value.isdigit():
        out.append(f"NotSufficientlyUnique: {where} guid {value!r}")


def _html(fragment: str, where: str, out: list[str]) -> None:
    """Only safe elements and attributes, and no relative URL, in an HTML fragment."""

    class Check(HTMLParser):
        def handle_starttag(self, tag, attrs):
            if tag not in SAFE_ELEMENTS:
                out.append(f"SecurityRisk: <{tag}> in {where}")
            for name, value in attrs:
                if name not in SAFE_ATTRIBUTES:
                    out.append(f"SecurityRiskAttr: {name}= on <{tag}> in {where}")
                elif name in ("href", "src") and not re.match(r"\w+:", (value or "").strip()):
                    out.append(f"ContainsRelRef: {name}={value!r} in {where}")

    Check(convert_charrefs=True).feed(fragment)

