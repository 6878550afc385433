"""`pipeline serve` for a site under a path (`site_url = "https://uni.example.ac.uk/coproduction/"`), over real HTTP.

Each request goes to the exact public URL (the form's action, the links of the emails) and reaches uvicorn on
127.0.0.1 as the README's nginx `location` sends it: the path unchanged, with the public host and scheme.
"""

from __future__ import annotations

import email
import itertools
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime
from email import policy
from urllib.parse import urlsplit

import httpx
import pytest

from pipeline import hookimpl
from pipeline.components import Source
from pipeline.config import load_project
from pipeline.runner import run
from tests.conftest import make_item
from tests.serve_fixtures import SERVE_TOML, LiveServer

SITE = "https://uni.example.ac.uk/coproduction"
CLIENTS = (f"198.51.100.{n}" for n in itertools.count(201))  # each test its own client, for the rate limit


class Posts:
    """One post, in February 2016: the issue made on 1 March has it."""

    @hookimpl
    def register_sources(self, register):
        class February(Source):
            name = "february"

            def fetch(self, run):
                return [make_item(title="Peer support news", themes=["peer support"],
                                  published=datetime(2016, 2, 10, tzinfo=UTC))]

        register(February)


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> Iterator[LiveServer]:
    folder = tmp_path_factory.mktemp("sub-path")
    toml = SERVE_TOML.replace('site_url = "https://network.example.org"', f'site_url = "{SITE}/"')
    assert toml != SERVE_TOML
    (folder / "pipeline.toml").write_text(toml + '\n[sources.posts]\ntype = "february"\n', encoding="utf-8")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TEST_SERVE_SECRET", "a-long-enough-secret-for-the-sub-path-test")
        patch.delenv("TEST_SENDGRID_WEBHOOK_KEY", raising=False)
        project = load_project(folder / "pipeline.toml", extra_plugins=[("posts", Posts())])
        server = LiveServer(project).start()
        try:
            yield server
        finally:
            server.stop()


class Proxy(httpx.BaseTransport):
    """What nginx's `proxy_pass http://127.0.0.1:8000;` does: the request, its path unchanged, to `serve` on
    loopback, with the public Host, X-Forwarded-Host and X-Forwarded-Proto (and the client's address)."""

    def __init__(self, live: LiveServer, client: str):
        self.port, self.client = urlsplit(live.url).port, client
        self.inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        public = request.url
        assert public.host == "uni.example.ac.uk", public  # nothing here is sent anywhere but `serve`
        headers = {**request.headers, "X-Forwarded-Proto": public.scheme, "X-Forwarded-Host": request.headers["Host"],
                   "X-Forwarded-For": self.client}
        # a request of its own: the client keeps its cookies by the public address of the one it sent
        forwarded = httpx.Request(request.method, public.copy_with(scheme="http", host="127.0.0.1", port=self.port),
                                  headers=headers, stream=request.stream)
        return self.inner.handle_request(forwarded)

    def close(self) -> None:
        self.inner.close()


@pytest.fixture
def browser(live) -> Iterator[httpx.Client]:
    """A browser at the public address (its cookies kept), reaching `serve` through the proxy."""
    with httpx.Client(transport=Proxy(live, next(CLIENTS)), timeout=10) as http:
        yield http


def h1(response: httpx.Response) -> str:
    return re.search(r"<h1>(.*?)</h1>", response.text).group(1)


def app_links(response: httpx.Response) -> list[str]:
    """Every link and form action of a page that is not an absolute address (the site's, under site_url) nor a mail
    address (the form's privacy line gives the newsletter's)."""
    found = re.findall(r'(?:href|action)="([^"]*)"', response.text)
    assert all(link.startswith(f"{SITE}/") for link in found if "://" in link), found
    return [link for link in found if "://" not in link and not link.startswith(("#", "mailto:"))]  # (an address)


def public(path: str) -> str:
    return f"https://uni.example.ac.uk{path}"


def subscribe(browser: httpx.Client, address: str, **fields) -> httpx.Response:
    """Open the form at its public address and send it where its action says, as a browser would."""
    page = browser.get(f"{SITE}/subscribe")
    assert page.status_code == 200 and h1(page) == "Subscribe to the newsletter"
    [action] = re.findall(r'<form method="post" action="([^"]+)"', page.text)
    assert action == "/coproduction/subscribe"
    token = re.search(r'name="form" value="([^"]+)"', page.text).group(1)
    return browser.post(public(action), data={"form": token, "email": address, "name": "", **fields},
                        headers={"Origin": "https://uni.example.ac.uk"})


def confirm_by_mail(live: LiveServer, browser: httpx.Client, address: str) -> httpx.Response:
    message = live.wait_for_message(address)
    [link] = re.findall(r"https://\S+/confirm/\S+", message.get_body(("plain",)).get_content())
    assert link.startswith(f"{SITE}/confirm/")
    page = browser.get(link)
    assert page.status_code == 200 and "Confirm my subscription" in page.text
    assert app_links(page) == []  # its form posts to the page's own address
    done = browser.post(link)
    assert done.status_code == 200 and h1(done) == "You are subscribed" and live.status(address) == "active"
    return done


def test_subscribe_confirm_and_choose_themes_under_the_path(live, browser):
    sent = subscribe(browser, "sub@example.org", theme="research")
    assert sent.status_code == 200 and h1(sent) == "Check your inbox" and live.status("sub@example.org") == "pending"
    assert any(name == "__Host-pipeline-form" for name in browser.cookies)  # the proxy's https, as the README says

    done = confirm_by_mail(live, browser, "sub@example.org")
    [preferences] = app_links(done)
    assert preferences.startswith("/coproduction/preferences/")
    page = browser.get(public(preferences))
    assert page.status_code == 200 and h1(page) == "Your newsletter preferences"
    assert app_links(page) == []  # both forms post to the page's own address, under the path
    saved = browser.post(public(preferences), data={"action": "save", "theme": ["peer support"]})
    assert saved.status_code == 200 and "Your choice is saved" in saved.text
    left = browser.post(public(preferences), data={"action": "leave"})
    assert h1(left) == "You have unsubscribed" and live.status("sub@example.org") == "unsubscribed"
    assert app_links(left) == ["/coproduction/subscribe"]
    for again in (browser.get(public(preferences)), browser.get(public(preferences.replace("preferences",
                                                                                            "unsubscribe")))):
        assert h1(again) == "You are not subscribed" and app_links(again) == ["/coproduction/subscribe"]
        assert browser.get(public(app_links(again)[0])).status_code == 200


def test_one_click_to_the_exact_list_unsubscribe_url_of_an_issue_unsubscribes(live, browser):
    subscribe(browser, "issue@example.org")
    confirm_by_mail(live, browser, "issue@example.org")
    assert run(live.project, as_of=date(2016, 3, 1)).exit_code == 0
    [path] = sorted((live.project.root / "outbox" / "issue-1").glob("issue@example.org*"))
    issue = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    unsubscribe = re.match(r"<(https://[^>]+)>(, <mailto:[^>]+>)?$", issue["List-Unsubscribe"]).group(1)
    assert unsubscribe.startswith(f"{SITE}/unsubscribe/")
    assert issue["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    preferences = re.search(r'href="(https://[^"]+/preferences/[^"]+)"', issue.get_body(("html",)).get_content())
    page = browser.get(preferences.group(1))  # the footer's other link works too
    assert page.status_code == 200 and h1(page) == "Your newsletter preferences"

    # as a mail client sends it (RFC 8058): no cookie, no Origin, the body List-Unsubscribe=One-Click
    with httpx.Client(transport=Proxy(live, next(CLIENTS)), timeout=10) as mail_client:
        left = mail_client.post(unsubscribe, content=b"List-Unsubscribe=One-Click",
                                headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert left.status_code == 200 and h1(left) == "You have unsubscribed"
    assert "set-cookie" not in left.headers and not left.is_redirect
    assert live.status("issue@example.org") == "unsubscribed"


def test_the_root_and_other_paths_are_the_projects_404(live, browser):
    for path in ("/subscribe", "/unsubscribe/x.y", "/webhooks/sendgrid", "/", "/coproduction", "/coproduction/",
                 "/coproductions/subscribe", "/other/coproduction/subscribe"):
        for response in (browser.get(public(path)), browser.post(public(path), data={"form": "x"})):
            assert response.status_code == 404 and h1(response) == "Page not found", path
            assert "default-src 'none'" in response.headers["content-security-policy"]
            assert app_links(response) == ["/coproduction/subscribe"], path
    # without the proxy as well: straight to the port, as someone trying it on the server would
    assert httpx.get(live.url + "/subscribe").status_code == 404
    assert httpx.get(live.url + "/coproduction/subscribe").status_code == 200


def test_the_webhook_the_host_and_the_origin_checks_work_under_the_path(live, browser):
    webhook = browser.post(f"{SITE}/webhooks/sendgrid", content=b"[]", headers={"Content-Type": "application/json"})
    assert webhook.status_code == 503 and "TEST_SENDGRID_WEBHOOK_KEY" in webhook.text  # found; no key set here
    foreign = httpx.get(live.url + "/coproduction/subscribe", headers={"Host": "evil.example"})
    assert foreign.status_code == 400 and h1(foreign) == "Not this address"

    page = browser.get(f"{SITE}/subscribe")
    token = re.search(r'name="form" value="([^"]+)"', page.text).group(1)
    elsewhere = browser.post(f"{SITE}/subscribe", data={"form": token, "email": "origin@example.org"},
                             headers={"Origin": "https://evil.example.com"})
    assert elsewhere.status_code == 403 and "sent from another site" in elsewhere.text
    assert app_links(elsewhere) == ["/coproduction/subscribe"]  # the form shown again still posts under the path
    assert live.status("origin@example.org") is None


# -- review (helper 94): site_url paths with odd characters ---------------------------------------------------------

def _served(tmp_path_factory, site_url: str) -> LiveServer:
    """`serve` of a project whose site_url is `site_url`, started (the caller stops it)."""
    folder = tmp_path_factory.mktemp("odd-path")
    toml = SERVE_TOML.replace('site_url = "https://network.example.org"', f'site_url = "{site_url}"')
    (folder / "pipeline.toml").write_text(toml, encoding="utf-8")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TEST_SERVE_SECRET", "a-long-enough-secret-for-the-odd-path-test")
        return LiveServer(load_project(folder / "pipeline.toml")).start()


def _raw_get(live: LiveServer, path: str) -> tuple[int, str]:
    """GET `path` exactly as written (no client tidying it), for the public host."""
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", urlsplit(live.url).port, timeout=10)
    try:
        connection.request("GET", path, headers={"Host": "uni.example.ac.uk"})
        response = connection.getresponse()
        return response.status, response.read().decode("utf-8")
    finally:
        connection.close()


def test_a_site_url_path_starting_with_two_slashes_keeps_the_pages_links_on_the_site(tmp_path_factory):
    """site_url = "https://uni.example.ac.uk//coproduction" (a slash typed twice) is accepted, and the mailed links
    (<site_url>/unsubscribe/...) stay on uni.example.ac.uk. The pages' own links and the form's action start with
    app_path, "//coproduction": a browser reads "//coproduction/subscribe" as the host "coproduction", so the form
    posts off the site (which the page's own CSP form-action 'self' then blocks) and the confirm page's
    preferences link would carry its token to another host. Every link and action must resolve on the site (or
    such a site_url be refused, saying why)."""
    from urllib.parse import urljoin

    from pipeline.errors import PipelineError

    try:
        live = _served(tmp_path_factory, "https://uni.example.ac.uk//coproduction")
    except PipelineError:
        return  # refused with a message for the organiser: fine
    try:
        for path in ("//coproduction/subscribe", "//coproduction/nothing-here"):
            status, html = _raw_get(live, path)
            assert status in (200, 404), path
            page = "https://uni.example.ac.uk" + path
            for link in re.findall(r'(?:href|action)="([^"]*)"', html):
                resolved = urlsplit(urljoin(page, link))
                assert resolved.netloc == "uni.example.ac.uk", (path, link, resolved.geturl())
    finally:
        live.stop()


def test_braces_in_site_urls_path_are_matched_as_written(tmp_path_factory):
    """A site_url path holding braces (written as %7B...%7D, or as they are) is decoded into the route's path,
    where Starlette reads "{issue}" as a parameter: the routes then answer any segment in its place
    (/newsANYTHING/subscribe gives the form), and "{token}" makes build_app raise a bare ValueError
    ("Duplicated param name token"), a traceback from `pipeline serve`. Expected: the path is matched as written,
    or site_url is refused with a ConfigError saying why."""
    from pipeline.errors import PipelineError

    for site_url, written, other in (("https://uni.example.ac.uk/news%7Bissue%7D", "/news%7Bissue%7D", "/newsANYTHING"),
                                     ("https://uni.example.ac.uk/%7Btoken%7D", "/%7Btoken%7D", "/ANYTHING")):
        try:
            live = _served(tmp_path_factory, site_url)
        except PipelineError:
            continue  # refused with a message for the organiser: fine
        try:
            assert _raw_get(live, f"{written}/subscribe")[0] == 200, site_url
            assert _raw_get(live, f"{other}/subscribe")[0] == 404, site_url
        finally:
            live.stop()


def test_serves_pages_have_the_archives_navigation_with_its_subscribe_link(live, browser):
    """serve's pages extend site/layout.html, "the one layout of the readers' site", and the project has an email
    sink, so the archive's every page ends its Site navigation with Subscribe (site.subscribe_url). Pages.render
    gives the templates no subscribe_url, so on serve's pages (the form itself, the 404, 'You have unsubscribed')
    that item is missing and the navigation a reader moves through changes from page to page."""
    from pipeline import site

    form = site.subscribe_url(live.project)
    assert form == f"{SITE}/subscribe"
    for path in ("/subscribe", "/nothing-here"):
        page = browser.get(f"{SITE}{path}")
        nav = re.search(r'<nav class="site" aria-label="Site">.*?</nav>', page.text, re.S).group()
        assert re.search(rf'<a href="{re.escape(form)}"[^>]*>\s*Subscribe\s*</a>', nav), (path, nav)
