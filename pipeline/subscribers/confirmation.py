"""Double opt-in: record a request to subscribe, and mail its confirmation link.

The message holds one link, `<site_url>/confirm/<token>`, and nothing the person typed (not even
their name), so the form cannot be used to put someone else's words in a stranger's inbox. The
link names the request, whose name and themes the address takes only when it is followed.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import jinja2

from pipeline.config import Project
from pipeline.mail.transactional import send_now
from pipeline.state import Store
from pipeline.state.subscribers import PENDING_DAYS, Request, expire_pending, request_subscription
from pipeline.subscribers.signing import Links
from pipeline.templating import build_environment

TEMPLATE = "web/confirm-email.txt"


def ask_to_subscribe(store: Store, email: str, name: str, themes: Iterable[str], *, how: str,
                     at: datetime) -> Request | None:
    """End requests older than 7 days, then record this one; the request to send a confirmation for (None: none)."""
    expire_pending(store, at=at)
    return request_subscription(store, email, name, themes, how=how, at=at)


def send_confirmation(project: Project, request: Request, links: Links,
                      env: jinja2.Environment | None = None) -> str:
    """Mail the request's confirmation link through the project's delivery; its reference. Raises PipelineError."""
    from pipeline.subscribers.signing import note_mailed

    note_mailed(project, links)
    env = env or build_environment(project)[0]
    text = env.get_template(TEMPLATE).render(confirm_url=links.confirm(request.subscriber.id, request.id),
                                             days=PENDING_DAYS)
    return send_now(project, to_email=request.subscriber.email, to_name="",
                    subject=f"Confirm your subscription to {project.core.name}", text=text)
