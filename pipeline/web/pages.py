"""The routes people use: subscribe, confirm, unsubscribe, preferences.

Each reads the request, calls the function the CLI calls (`pipeline.state.subscribers`,
`pipeline.subscribers.confirmation`) and renders a page. A GET never changes anything: a link
opened by a mail scanner only shows a page, and its button makes the change. A token that is
forged or altered gets 400 and changes nothing.
"""

from __future__ import annotations

import logging
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from pipeline.config import Project
from pipeline.errors import PipelineError
from pipeline.mail.transactional import project_deliverer
from pipeline.site import moved_themes
from pipeline.state import Store
from pipeline.state.subscribers import Request as SubscriptionRequest
from pipeline.state.subscribers import (
    Subscriber,
    asked_for,
    can_confirm,
    confirm,
    get_subscriber,
    set_themes,
    unsubscribe,
)
from pipeline.subscribers.addresses import checked, mailbox, normalise, one_line, without_addresses
from pipeline.subscribers.confirmation import REPEAT_WITHIN, ask_to_subscribe, send_confirmation
from pipeline.subscribers.signing import BadToken, ExpiredToken, Links, Purpose
from pipeline.subscribers.themes import choice_now
from pipeline.web.guards import FormTokens, RateLimiter, same_origin
from pipeline.web.hosts import AllowedHosts
from pipeline.web.proxy import client_key
from pipeline.web.render import SAME_ORIGIN, Pages
from pipeline.web.server_log import log_masked

log = logging.getLogger("pipeline.web")
HONEYPOT = "website"  # hidden from people by the stylesheet; a bot that fills it is told "sent" and ignored
FORM_LIMITS = {"max_files": 0, "max_fields": 100}
ONE_CLICK = b"List-Unsubscribe=One-Click"  # RFC 8058's body
UNREADABLE = "This form could not be read as text. Go back to the page and send it again."
_SURROGATE = re.compile(r"[\ud800-\udfff]")  # what a codec such as utf-7 can give: no text
STOP_GRACE = 10.0  # seconds the confirmations already queued have to go out when the server stops


@dataclass
class Web:
    """Everything the routes share, built once by `build_app`."""

    project: Project
    store: Store
    pages: Pages
    links: Links
    form_tokens: FormTokens
    per_client: RateLimiter
    per_address: RateLimiter
    total: RateLimiter  # every post, under one key: how many confirmations the form may send in a window
    total_told: RateLimiter  # once a window: the organiser is told that `total` was reached
    per_subscriber: RateLimiter  # choices saved on the preferences page, per subscriber (each is a consent record row)
    hosts: AllowedHosts
    themes: list[str]  # the taxonomy's themes, in its order
    always_note: str = ""  # " Jobs and events are in every issue, whatever you choose."
    # The project's delivery is one object, made for one send at a time (smtp keeps one connection), so
    # confirmations go out one by one from a thread of their own: a slow mail server holds up no page.
    mailer: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(1, "confirmations"))


def _web(request: Request) -> Web:
    return request.app.state.web


def _now() -> datetime:
    return datetime.now(UTC)


# -- subscribe ---------------------------------------------------------------------------------

async def subscribe_form(request: Request) -> Response:
    return _form(_web(request), request)


async def subscribe(request: Request) -> Response:
    web = _web(request)
    form = await _read_form(request)  # at most FORM_BODY bytes (BodyLimit) and FORM_LIMITS fields
    email, name = normalise(_text(form, "email")), one_line(_text(form, "name"))
    themes = [t for t in form.getlist("theme") if t in web.themes]
    values = {"email": email, "name": name, "themes": themes}
    if not same_origin(request, web.hosts) or not web.form_tokens.check(request, _text(form, "form")):
        return _form(web, request, values, {"form": "This form had expired or was sent from another site. "
                                                    "Check the details below and send it again."}, status=403)
    # Counted only once the post is the client's own: another site could otherwise spend a visitor's (and their
    # network's) posts on forgeries, which send nothing, and lock them out of the form.
    wait = web.per_client.hit(client_key(request.client.host if request.client else None))
    if wait:
        return _too_many(web, wait)
    if _text(form, HONEYPOT):
        return _sent(web)
    # In the spelling its mail reaches, so that another spelling of an address on the list is that address (to
    # the list and the per-address limit) and cannot have its mailbox sent confirmations without end.
    email, problem = checked(email)
    if problem is not None:
        return _form(web, request, values, {"email": "Enter an email address like name@example.org"
                                                     f"{f' ({problem})' if problem else ''}."}, status=400)
    wait = web.per_address.hit(mailbox(email))  # ann+1@ and ann+2@ reach one inbox: one count
    if wait:
        return _too_many(web, wait)
    wait = web.total.hit("")  # many clients (an IPv6 /48 holds 65,536 /64s) and many addresses: still a bound
    if wait:
        if web.total_told.hit("") is None:  # once a window, not for every post of a flood
            log.warning("the subscribe form reached [serve] total_limit (%d posts in %d minutes): it answers 429 "
                        "to everyone until the oldest leave the window", web.project.serve.total_limit,
                        web.project.serve.limit_minutes)
        return _too_many(web, wait)
    asked = await run_in_threadpool(ask_to_subscribe, web.store, email, name, themes, how="form", at=_now(),
                                    deliverer=project_deliverer(web.project),
                                    wording=web.pages.consent_wording("subscribe.html", **_form_context(web)),
                                    daily_limit=web.project.serve.daily_confirmations, once_within=REPEAT_WITHIN)
    # Sent after the response, so an address already on the list cannot be told apart by time or by a failure.
    return _sent(web, BackgroundTask(web.mailer.submit, _send_confirmation, web, asked) if asked else None)


def stop_mailer(web: Web) -> None:
    """Let the confirmations already queued go out, for up to STOP_GRACE seconds: past it the rest are
    dropped (their subscribers stay pending and can ask again), so a mail server that never answers
    cannot hold the stop for a timeout per confirmation. The one under way ends within its own timeout."""
    last = web.mailer.submit(lambda: None)
    web.mailer.shutdown(wait=False)
    try:
        last.result(timeout=STOP_GRACE)
    except TimeoutError:
        web.mailer.shutdown(wait=False, cancel_futures=True)
        log.warning("stopped with confirmations still queued (the mail server did not answer within %g s); "
                    "they were not sent", STOP_GRACE)


def _send_confirmation(web: Web, asked: SubscriptionRequest) -> None:
    try:
        send_confirmation(web.project, asked, web.links, web.pages.env)
    except PipelineError as exc:
        log.error("could not send the confirmation to subscriber %s: %s", asked.subscriber.id,
                  without_addresses(str(exc)))  # anyone can type an address into the form: none reaches the log
    except Exception as exc:  # on the mailer's thread an exception would be kept in its future, unseen
        log_masked(exc, "could not send the confirmation to subscriber %s", asked.subscriber.id)


def _form(web: Web, request: Request, values: dict | None = None, errors: dict[str, str] | None = None,
          status: int = 200) -> Response:
    field, nonce = web.form_tokens.issue(request)
    response = web.pages.render("subscribe.html", status=status, headers=SAME_ORIGIN,  # its post needs its Origin
                                **_form_context(web, field, values, errors))
    web.form_tokens.set_cookie(request, response, nonce)
    return response


def _form_context(web: Web, token: str = "", values: dict | None = None,
                  errors: dict[str, str] | None = None) -> dict:
    return {"title": "Subscribe to the newsletter", "form_token": token, "honeypot": HONEYPOT,
            "all_themes": web.themes, "always_note": web.always_note,
            "values": values or {"email": "", "name": "", "themes": []}, "errors": errors or {}}


def _sent(web: Web, background: BackgroundTask | None = None) -> Response:
    response = web.pages.render("subscribe-sent.html", title="Check your inbox")
    response.background = background
    return response


def _too_many(web: Web, wait: float) -> Response:
    minutes = max(1, round(wait / 60))
    return web.pages.render("message.html", status=429, headers={"Retry-After": str(int(wait) + 1)},
                            title="Too many requests",
                            message=f"This form has been sent too often. Please try again in "
                                    f"{minutes} minute{'s' if minutes != 1 else ''}.")


# -- confirm -----------------------------------------------------------------------------------

async def confirm_page(request: Request) -> Response:
    """The button, while pressing it would confirm; otherwise the page its POST would give (changing nothing)."""
    web = _web(request)
    subscriber_id, asked, mailed = _token_ids(web, request, "confirm")
    subscriber = await run_in_threadpool(get_subscriber, web.store, subscriber_id)
    if subscriber is None or subscriber.status not in ("pending", "active"):
        return _gone(web)
    if subscriber.status == "pending" and not await run_in_threadpool(can_confirm, web.store, subscriber.id,
                                                                      at=_now(), request=asked, mailed=mailed):
        return _gone(web)
    # Anyone may have filled in the form for this address: the owner sees what the button would take on.
    wish = None
    if subscriber.status == "pending" and asked is not None:
        wish = await run_in_threadpool(asked_for, web.store, subscriber.id, asked)
    return web.pages.render("confirm.html", title="Confirm your subscription", state=subscriber.status,
                            preferences=_path(web, "preferences", subscriber.id),
                            asked={"name": wish[0] or subscriber.name, "themes": wish[1]} if wish else None)


async def confirm_post(request: Request) -> Response:
    """Activate the subscriber, with the name and themes of the request the link was mailed for."""
    web = _web(request)
    subscriber_id, asked, mailed = _token_ids(web, request, "confirm")
    subscriber = await run_in_threadpool(get_subscriber, web.store, subscriber_id)
    if subscriber is None:
        return _gone(web)
    # the page with the button as it was shown, but for the name and themes asked for: the wording is kept apart
    # from the person, and outlives an erasure
    wording = web.pages.consent_wording("confirm.html", title="Confirm your subscription", state="pending",
                                        preferences="", asked=None)
    activated = await run_in_threadpool(confirm, web.store, subscriber.id, how="confirmation", at=_now(),
                                        request=asked, mailed=mailed, wording=wording)
    if not activated:  # active now, by this link pressed twice at once (a double click) too: not read before
        subscriber = await run_in_threadpool(get_subscriber, web.store, subscriber_id)
        if subscriber is None or subscriber.status != "active":
            return _gone(web)
    return web.pages.render("confirm.html", title="You are subscribed", state="active",
                            preferences=_path(web, "preferences", subscriber.id))


def _gone(web: Web) -> Response:
    return web.pages.render("message.html", status=410, title="This link has expired",
                            message="This confirmation link is no longer valid: it is more than 7 days old, "
                                    "or the address has left since.", subscribe_link=True)


# -- unsubscribe (RFC 8058 one-click, and the page's button) -------------------------------------

async def unsubscribe_page(request: Request) -> Response:
    web = _web(request)
    subscriber = await _linked(web, request, "unsubscribe")
    if subscriber is None:
        return _nobody(web, "unsubscribe.html")
    subscribed = subscriber.status in ("active", "pending")
    return web.pages.render("unsubscribe.html", title="Unsubscribe" if subscribed else "You are not subscribed",
                            state="ask" if subscribed else "out")


async def unsubscribe_post(request: Request) -> Response:
    """`List-Unsubscribe=One-Click` in the body unsubscribes at once: 200, no redirect, no cookie. RFC 8058 has it
    multipart or url-encoded, and the pair as it is counts too, whatever the Content-Type says (a script's
    `fetch` sends a string as text/plain)."""
    web = _web(request)
    subscriber = await _linked(web, request, "unsubscribe")
    body = await request.body()  # read first: Starlette then parses the form from it
    form = await _read_form(request)
    if _text(form, "List-Unsubscribe") != "One-Click" and body.strip() != ONE_CLICK:
        raise HTTPException(400, "This request is not an unsubscribe request (List-Unsubscribe=One-Click).")
    if subscriber is None:  # not 200: the clicker, if the link came from before the list moved, is still on it
        return _nobody(web, "unsubscribe.html")
    how = "unsubscribe page" if _text(form, "via") == "page" else "one-click unsubscribe"
    await run_in_threadpool(unsubscribe, web.store, subscriber.id, how=how, at=_now())
    return web.pages.render("unsubscribe.html", title="You have unsubscribed", state="done")


# -- preferences -------------------------------------------------------------------------------

async def preferences_page(request: Request) -> Response:
    web = _web(request)
    return await _preferences(web, await _linked(web, request, "preferences"))


async def preferences_post(request: Request) -> Response:
    web = _web(request)
    subscriber = await _linked(web, request, "preferences")
    form = await _read_form(request)
    action = _text(form, "action")
    if action not in ("save", "leave"):
        raise HTTPException(400, "This request is not one the preferences page sends.")
    if subscriber is None or subscriber.status not in ("active", "pending"):
        return await _preferences(web, subscriber)
    if action == "leave":
        await run_in_threadpool(unsubscribe, web.store, subscriber.id, how="preferences page", at=_now())
        return web.pages.render("unsubscribe.html", title="You have unsubscribed", state="done")
    wait = web.per_subscriber.hit(str(subscriber.id))  # (leaving, above, is never refused)
    if wait:
        return _too_many(web, wait)
    themes = [t for t in form.getlist("theme") if t in web.themes]
    await run_in_threadpool(set_themes, web.store, subscriber.id, themes, how="preferences page", at=_now())
    return await _preferences(web, await run_in_threadpool(get_subscriber, web.store, subscriber.id), saved=True)


async def _preferences(web: Web, subscriber: Subscriber | None, saved: bool = False) -> Response:
    if subscriber is None:
        return _nobody(web, "preferences.html")
    if subscriber.status not in ("active", "pending"):
        return web.pages.render("preferences.html", title="You are not subscribed", subscriber=None,
                                all_themes=web.themes)
    # A theme renamed since it was chosen is shown ticked under its new name; one taken out is named, not ticked.
    chosen, gone = choice_now(subscriber.themes, web.themes, await run_in_threadpool(moved_themes, web.store))
    return web.pages.render("preferences.html", title="Your newsletter preferences", subscriber=subscriber,
                            chosen=chosen, gone=gone, all_themes=web.themes, always_note=web.always_note, saved=saved)


# -- helpers -----------------------------------------------------------------------------------

def _nobody(web: Web, template: str) -> Response:
    """A genuine unsubscribe or preferences link whose id names no one stored: a request never confirmed and
    forgotten, or a link mailed by another database (the list moved, or a backup put back), whose ids this one
    never gave (they are drawn at random). Nothing is changed, and the page says the link is not valid here."""
    return web.pages.render(template, status=404, title="This link is not valid", state="nobody", subscriber=None,
                            all_themes=web.themes)


async def _linked(web: Web, request: Request, purpose: Purpose) -> Subscriber | None:
    """The subscriber a link's token names (None: no longer stored); a bad token ends the request with 400."""
    return await run_in_threadpool(get_subscriber, web.store, _token_ids(web, request, purpose)[0])


def _token_ids(web: Web, request: Request, purpose: Purpose) -> tuple[int, int | None, datetime | None]:
    """(subscriber id, request id, when it was signed) of a link's token (`Tokens.read_signed`); a bad token
    ends the request with 400, an old one 410."""
    try:
        return web.links.tokens.read_signed(purpose, request.path_params["token"])
    except ExpiredToken:
        raise HTTPException(410, "This confirmation link is more than 7 days old.") from None
    except BadToken:
        raise HTTPException(400, "This link is not one we sent, or it was cut short. "
                                 "Copy the whole link from the email and try again.") from None


def _path(web: Web, purpose: Purpose, subscriber_id: int) -> str:
    """A link to another page of this app: a path on this host, under site_url's path as every route is."""
    return f"{web.pages.app_path}/{purpose}/{web.links.tokens.make(purpose, subscriber_id)}"


async def _read_form(request: Request) -> FormData:
    """The form posted, of at most FORM_LIMITS; 400 (`UNREADABLE`) for one whose fields are not text. A multipart form
    may name any of Python's codecs as its charset, and Starlette decodes its fields with it: `undefined` raises
    UnicodeError, which Starlette lets through (a 500, logged), and `utf-7` or `unicode_escape` give lone surrogates,
    which no page can be encoded with and no database stores. No browser sends either."""
    try:
        form = await request.form(**FORM_LIMITS)
    except UnicodeError:
        raise HTTPException(400, UNREADABLE) from None
    if any(_SURROGATE.search(key) or (isinstance(value, str) and _SURROGATE.search(value))
           for key, value in form.multi_items()):
        raise HTTPException(400, UNREADABLE)
    return form


def _text(form: FormData, key: str) -> str:
    value = form.get(key)
    return value if isinstance(value, str) else ""


ERROR_TITLES = {400: "This link or form is not valid", 403: "Not allowed", 404: "Page not found",
                405: "Not allowed", 410: "This link has expired", 413: "Too much data"}


async def http_error(request: Request, exc: Exception) -> Response:
    """Every HTTP error as a page in the site's look."""
    assert isinstance(exc, HTTPException)
    web = _web(request)
    message = exc.detail if exc.detail and exc.status_code != 404 else "There is no page at this address."
    return web.pages.render("message.html", status=exc.status_code, headers=exc.headers,
                            title=ERROR_TITLES.get(exc.status_code, "Something went wrong"), message=message,
                            subscribe_link=exc.status_code in (404, 410))


def unknown_host(web: Web) -> Response:
    """The page of a request for a host the app does not answer to (see `hosts.HostCheck`)."""
    return web.pages.render("message.html", status=400, title="Not this address",
                            message="This site is not served at the address you used.")


def server_error(web: Web) -> Response:
    """The page of an unexpected error (500), in the site's look; the error itself is logged, not shown."""
    return web.pages.render("message.html", status=500, title="Something went wrong",
                            message="Something went wrong on our side. Please try again later.")
