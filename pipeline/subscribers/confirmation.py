"""Double opt-in: record a request to subscribe, and mail its confirmation link.

The message holds one link, `<site_url>/confirm/<token>`, and nothing the person typed (not even
their name), so the form cannot be used to put someone else's words in a stranger's inbox. The
link names the request, whose name and themes the address takes only when it is followed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta

import jinja2

from pipeline.components import Deliverer
from pipeline.config import Project
from pipeline.mail.transactional import send_now
from pipeline.state import Store
from pipeline.state.subscribers import PENDING_DAYS, Request, request_subscription, requested_since
from pipeline.subscribers.addresses import canonical, mailbox
from pipeline.subscribers.expiry import expire_requests
from pipeline.subscribers.signing import Links
from pipeline.templating import build_environment

TEMPLATE = "web/confirm-email.txt"
CONFIRMATION = "confirmation"  # the purpose its mailing is sent with (`Mailing.purpose`)
REPEAT_WITHIN = timedelta(minutes=1)  # the form sent again this soon, the same, is the request made (a double click)
log = logging.getLogger("pipeline.subscribers")


def ask_to_subscribe(store: Store, email: str, name: str, themes: Iterable[str], *, how: str, at: datetime,
                     deliverer: Deliverer | None, wording: str = "", daily_limit: int | None = None,
                     once_within: timedelta | None = None) -> Request | None:
    """End requests older than 7 days (`expire_requests`), then record this one, with the `wording` the form showed;
    the request to send a confirmation for (None: none). With `daily_limit`, a mailbox that has had that many
    requests in the last 24 hours (still open: not confirmed or expired) gets none, and nothing is recorded: the
    form can send no one's inbox more, whatever the spelling of the address and however often `serve` restarts.
    With `once_within`, the same name and themes asked for again that soon make no second request (the form's
    `REPEAT_WITHIN`; an organiser's `--invite` is asked again on purpose)."""
    expire_requests(store, deliverer, at=at)
    if daily_limit is not None:
        inbox = mailbox(canonical(email) or email)
        recent = sum(mailbox(asked) == inbox for asked in requested_since(store, at - timedelta(days=1)))
        if recent >= daily_limit:
            log.info("no confirmation mailed: %d requests for one mailbox in 24 hours ([serve] daily_confirmations)",
                     recent)
            return None
    return request_subscription(store, email, name, themes, how=how, at=at, wording=wording, once_within=once_within)


def send_confirmation(project: Project, request: Request, links: Links,
                      env: jinja2.Environment | None = None) -> str:
    """Mail the request's confirmation link through the project's delivery; its reference. Raises PipelineError."""
    from pipeline.subscribers.signing import note_mailed

    note_mailed(project, links)
    env = env or build_environment(project)[0]
    text = env.get_template(TEMPLATE).render(confirm_url=links.confirm(request.subscriber.id, request.id),
                                             days=PENDING_DAYS)
    return send_now(project, to_email=request.subscriber.email, to_name="",
                    subject=f"Confirm your subscription to {project.core.name}", text=text, purpose=CONFIRMATION)
