"""The `sendgrid` delivery: SendGrid's v3 Mail Send API through the official client, exactly once.

The v3 API has no idempotency key, so a request whose answer is lost (a timeout, a dropped
connection, a 5xx) may or may not have been accepted. The way out is SendGrid's scheduled sends:

1. each journal batch gets a batch id (`POST /v3/mail/batch`) and is sent as up to
   `requests_per_batch` requests of up to `batch_size` recipients, `concurrency` at a time,
   each with that `batch_id` and `send_at` = now + `hold_minutes`: SendGrid accepts the
   messages at once and releases them at `send_at`;
2. when any request of the batch ends in doubt, the whole batch is cancelled
   (`POST /v3/user/scheduled_sends`, status `cancel`) and the cancel confirmed
   (`GET /v3/user/scheduled_sends/{batch_id}`); its recipients are then sent again under a new
   batch id. SendGrid discards a cancelled batch at `send_at`, late requests included;
3. SendGrid refuses a cancel later than 10 minutes before `send_at`, and holds at most 10
   cancelled or paused batches at once. A batch in doubt that can no longer be cancelled is
   recorded as `unknown`: never sent again unless the organiser asks.

Cost: every issue reaches inboxes `hold_minutes` (30 by default) after it is sent. A run killed
mid-send and run again within `hold_minutes - 10` minutes settles its batch exactly once.
`scheduled = false` sends at once instead: then a request in doubt is `unknown` (at most once).
429s, and requests that never went out whole (a connection refused, timed out or unreachable, a
certificate that cannot be verified) are retried (nothing was accepted), and fail the request when they
last; a 429 whose X-RateLimit-Reset is further ahead than `max_wait_seconds` (a daily cap) is not:
until then no request goes (`halted`), so the host hands over no further batch and leaves whoever is
left failed, for the next run; a 400 whose errors each name one recipient's personalization
("personalizations.3.to.0.email") fails those recipients alone, with SendGrid's reason, and the rest
are sent again in a request without them (a 400 accepts nothing, so nobody gets
two copies). When that reason is that the address itself is invalid ("Does not contain a
valid address."), SendGrid will never send to it: it is a hard bounce (`Delivery.bounced`), and the
host marks the subscriber bounced as it does for smtp's. Any other 4xx fails the request with
SendGrid's own explanation. The API key is read from the environment variable named by
`api_key_env`, never from pipeline.toml.

Someone who unsubscribed or bounced is on SendGrid's own lists too, which drop their mail without a word: once they
have confirmed through the form again, `readmit` deletes them from the bounce list and the global unsubscribes
before the next send; the confirmation itself goes past both lists (`payload`). No bypass filter of those passes
SendGrid's invalid emails list (an address it once judged invalid: a mailbox that did not exist yet): before a
confirmation the address is deleted from it (a failure is a warning: the confirmation goes all the same), and
`readmit` deletes it from that list too.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import re
import socket
import ssl
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from enum import Enum
from json.encoder import encode_basestring_ascii as _quote  # C: a JSON string literal
from typing import TYPE_CHECKING
from urllib.error import HTTPError as AnsweredError  # a URLError with an HTTP status: answered
from urllib.error import URLError

from pydantic import Field

from pipeline import components, hookimpl
from pipeline.components import Batch, Deliverer, Delivery, Resolution
from pipeline.config import Project
from pipeline.errors import ConfigError, PipelineError
from pipeline.mail import TOKEN_TAG
from pipeline.mail.headers import header_text
from pipeline.run_context import RunContext
from pipeline.settings_types import EnvVarName

if TYPE_CHECKING:
    from python_http_client.exceptions import HTTPError

    from pipeline.mail.message import Mailing, Recipient

log = logging.getLogger("pipeline.send")

_KEY = re.compile(r"[!-~]+")  # printable ASCII, no space: what an API key is made of
UNSENDABLE = ("SendGrid cannot send to an address with characters other than ASCII before the @; ask the "
              "subscriber for another address, or send with the smtp delivery to a server that takes SMTPUTF8")
NO_DOMAIN = ("no mail reaches this address: IDNA refuses its domain (a direction mark or a control character in "
             "it; a row kept as it was from before addresses took one spelling); take it off the list with "
             "`pipeline subscribers remove`, or ask the subscriber for their address again")
CANCEL_CUTOFF = timedelta(minutes=10)  # SendGrid refuses a cancel later than this before send_at
MAX_CANCELLED = 10  # SendGrid holds at most this many cancelled (or paused) batches at once
_STATUS_EXISTS = re.compile(r"\bstatus for this batch id exists\b", re.IGNORECASE)  # a cancel (or pause) is there
CANCEL_MARGIN = timedelta(minutes=1)  # our clock and SendGrid's may differ a little
MAX_RESENDS = 10  # requests made again without the recipients a 400 named, per request
_PERSONALIZATION = re.compile(r"personalizations\.(\d+)(?:\.|$)")  # the field of a 400's error
_TO_EMAIL = re.compile(r"personalizations\.\d+\.to\.\d+\.email")  # the field naming a recipient's address
# SendGrid's reason for an address it judges invalid: "Does not contain a valid address.", or "The to email does not
# contain a valid address."; not "The to email parameter is required." nor a wrong type, which are our request's.
_INVALID = re.compile(r"\bdoes not contain a valid address\b", re.IGNORECASE)
HINTS = {
    401: "check the API key in {env}",
    403: "the key needs the Mail Send, Scheduled Sends and Suppressions permissions and the sender must be verified",
    413: "the request is too large; lower batch_size",
}


class Answer(Enum):
    ACCEPTED = "accepted"
    REFUSED = "refused"  # certainly not accepted
    IN_DOUBT = "in doubt"  # may have been accepted


class SendGrid(Deliverer):
    name = "sendgrid"
    description = "Send through SendGrid's v3 Mail Send API, exactly once (key from the environment)."

    class Settings(components.Settings):
        api_key_env: EnvVarName = "SENDGRID_API_KEY"  # the variable's name; the key itself is never printed
        host: str = "https://api.sendgrid.com"
        batch_size: int = Field(default=1000, ge=1, le=1000)  # recipients per request: SendGrid's limit
        requests_per_batch: int = Field(default=10, ge=1, le=100)  # requests sharing one batch id
        concurrency: int = Field(default=10, ge=1, le=64)  # requests in flight at once, over every batch
        scheduled: bool = True  # exactly once through scheduled sends; false: at once, at most once
        hold_minutes: int = Field(default=30, ge=12, le=72 * 60)  # send_at = now + this
        max_retries: int = Field(default=3, ge=0, le=10)
        max_wait_seconds: float = Field(default=60.0, ge=0)
        timeout: float = Field(default=30.0, gt=0)

    def __init__(self, instance: str, settings: Settings, project: Project):
        super().__init__(instance, settings, project)
        key = os.environ.get(settings.api_key_env, "").strip()
        if not key:
            raise ConfigError(f"{project.config_path.name}: sendgrid delivery: environment variable "
                              f"{settings.api_key_env} is not set; set it to your SendGrid API key, "
                              f"or use type = \"outbox\" to write .eml files instead")
        if not _KEY.fullmatch(key):  # http.client would refuse it on every request, quoting it whole
            raise ConfigError(f"{project.config_path.name}: sendgrid delivery: environment variable "
                              f"{settings.api_key_env} holds a line break, a space or another character no "
                              f"SendGrid API key has; set it to the key alone")
        from sendgrid import SendGridAPIClient  # here: it loads cryptography, which a project without it never needs

        self.client = SendGridAPIClient(api_key=key, host=settings.host)
        self.client.client.timeout = settings.timeout  # the client has no timeout otherwise
        # Bodies go out as the JSON text we write (with any other Content-Type the client would re-encode
        # them): a 1,000-recipient body is built as text, never as 5,000 small dicts.
        self.client.client.request_headers["Content-Type"] = "application/json; charset=utf-8"
        self.clock = lambda: datetime.now(UTC)
        self.skew = timedelta(0)  # SendGrid's clock minus ours, from the Date of its last answer
        self.cancel_failure = ""
        self._capped: tuple[datetime, str] | None = None  # a rate limit's reset too far to wait for (SendGrid's time)
        self._lists_capped: tuple[datetime, str] | None = None  # the same, of the suppression lists' endpoints
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()

    @property
    def batch_size(self) -> int:  # recipients journalled together: those sharing one batch id
        return self.settings.batch_size * self.settings.requests_per_batch

    @property
    def parallel_batches(self) -> int:  # enough to keep `concurrency` requests busy, and batch ids coming
        return max(2, -(-self.settings.concurrency // self.settings.requests_per_batch) + 1)

    @property
    def probe_size(self) -> int:
        return self.settings.batch_size

    @property
    def take_back_limit(self) -> int | None:  # each batch in doubt is cancelled, and SendGrid holds ten at most
        return MAX_CANCELLED if self.settings.scheduled else None

    def pause_after_doubt(self, round_number: int) -> float:
        return min(2.0 ** round_number, self.settings.max_wait_seconds)

    def halted(self) -> str:
        """Why no request may go now: a 429 said SendGrid takes none until a moment further ahead than
        `max_wait_seconds` (a daily cap), which has not come yet; "" otherwise."""
        capped = self._capped
        if capped is None:
            return ""
        if self.sendgrid_now() >= capped[0]:
            self._capped = None
            return ""
        return capped[1]

    def _cap_reached(self, headers: Mapping[str, str]) -> str:
        """For a 429: the line saying the send stops, when its X-RateLimit-Reset is further ahead than
        `max_wait_seconds` (by SendGrid's clock, the answer's Date); "" when it is near enough to wait for."""
        wait = rate_limit_wait(headers, time.time())
        if wait is None or not wait > self.settings.max_wait_seconds:  # (not NaN either)
            return ""
        wait = min(wait, 400 * 86400.0)  # a reset absurdly far ahead is still a time that can be written
        until = (self.sendgrid_now() + timedelta(seconds=wait)).replace(microsecond=0)
        said = (f"SendGrid's rate limit takes no more mail until {until:%Y-%m-%d %H:%M} UTC (X-RateLimit-Reset), "
                f"further ahead than max_wait_seconds ({self.settings.max_wait_seconds:g} s): the send stopped, "
                f"and the next run after that sends to those left")
        first = self._capped is None
        self._capped = (until, said)
        if first:
            log.warning("sendgrid delivery: %s", said)
        return said

    def _lists_cap_reached(self, headers: Mapping[str, str]) -> str:
        """For a 429 of the suppression lists' endpoints (their own rate limit): the reason, when its reset is further
        ahead than `max_wait_seconds`, remembered so that no other address is asked until then (each would wait it
        out in vain, retry after retry, before the send); "" when it is near enough to wait for."""
        wait = rate_limit_wait(headers, time.time())
        if wait is None or not wait > self.settings.max_wait_seconds:  # (not NaN either)
            return ""
        until = (self.sendgrid_now() + timedelta(seconds=min(wait, 400 * 86400.0))).replace(microsecond=0)
        said = (f"SendGrid's rate limit on its suppression lists takes no more requests until {until:%Y-%m-%d %H:%M} "
                f"UTC (X-RateLimit-Reset), further ahead than max_wait_seconds ({self.settings.max_wait_seconds:g} s)")
        self._lists_capped = (until, said)
        return said

    def _note_clock(self, date_header: str | None) -> None:
        try:
            theirs = parsedate_to_datetime(date_header) if date_header else None
        except (TypeError, ValueError):
            theirs = None
        if theirs is not None and theirs.tzinfo is not None:
            self.skew = theirs - self.clock()

    def close(self) -> None:
        with self._pool_lock:
            if self._pool is not None:
                self._pool.shutdown()
            self._pool = None

    def _requests(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.settings.concurrency, thread_name_prefix="sendgrid")
            return self._pool

    # -- batches -----------------------------------------------------------------------------------

    def open_batch(self, edition: int) -> Batch:
        if halted := self.halted():
            raise PipelineError(halted)
        if not self.settings.scheduled:
            return super().open_batch(edition)
        # A batch id nobody uses costs nothing, so a request in doubt is simply made again.
        answer, detail, body = self._call(lambda: self.client.client.mail.batch.post(), retry_in_doubt=True)
        if answer is not Answer.ACCEPTED:
            raise PipelineError(f"cannot create a SendGrid batch id: {detail}")
        batch_id = str(json.loads(body or b"{}").get("batch_id") or "")
        if not batch_id:
            raise PipelineError("SendGrid answered the batch request without a batch_id")
        # send_at and the cancel deadline are SendGrid's times, so they are reckoned by its clock.
        send_at = (self.sendgrid_now() + timedelta(minutes=self.settings.hold_minutes)).replace(microsecond=0)
        return Batch(batch_id, send_at, edition)

    def sendgrid_now(self) -> datetime:
        return self.clock() + self.skew

    def local_time(self, provider_time: datetime) -> datetime:
        return provider_time - self.skew

    def deliver(self, mailing: Mailing, recipients: list[Recipient], batch: Batch | None,
                run: RunContext | None) -> list[Delivery]:
        head = json.dumps(payload(mailing, batch if self.settings.scheduled else None))[:-1] + ', "personalizations": ['
        personalize = TOKEN_TAG in (mailing.html or "") or TOKEN_TAG in mailing.text
        # SendGrid cannot send to a local part outside ASCII: it refuses the whole request, or drops the address.
        refused = [Delivery(r.email, False, error=UNSENDABLE if not r.email.rpartition("@")[0].isascii() else NO_DOMAIN)
                   for r in recipients if sendable(r.email) is None]
        if refused:
            recipients = [r for r in recipients if sendable(r.email) is not None]
            if not recipients:
                return refused
        if mailing.purpose == "confirmation":  # no bypass filter of ours passes the invalid emails list
            for recipient in recipients:
                self._off_invalid_list(recipient.email)
        size = self.settings.batch_size
        requests = [recipients[start:start + size] for start in range(0, len(recipients), size)]
        transactional = batch is None  # one confirmation email: a retry in doubt costs at most a second copy

        def post(chunk: list[Recipient]) -> list[Delivery]:
            named: list[Delivery] = []  # refused alone by a 400 that named them
            if halted := self.halted():  # a rate limit far ahead: nothing more is asked of SendGrid in this send
                return [Delivery(r.email, False, error=halted) for r in chunk]
            for attempt in range(MAX_RESENDS + 1):
                body = head + ",".join([personalization(mailing, r, personalize) for r in chunk]) + "]}"
                answer, detail, reply = self._call(
                    lambda body=body: self.client.client.mail.send.post(request_body=body),
                    retry_in_doubt=transactional)
                refused_alone = refused_recipients(reply, len(chunk)) if answer is Answer.REFUSED else {}
                if not refused_alone or attempt == MAX_RESENDS:
                    break
                # Nothing of the request was taken: the others go again, in a request without those named.
                named += [Delivery(chunk[n].email, False, error=f"SendGrid refused this address (the others were "
                                                                f"sent without it): {why}", bounced=invalid)
                          for n, (why, invalid) in refused_alone.items()]
                chunk = [r for n, r in enumerate(chunk) if n not in refused_alone]
                if not chunk:
                    return named
            return named + [Delivery(r.email, answer is Answer.ACCEPTED, detail if answer is Answer.ACCEPTED else "",
                                     "" if answer is Answer.ACCEPTED else detail, certain=answer is not Answer.IN_DOUBT)
                            for r in chunk]

        if len(requests) == 1:
            return refused + post(requests[0])
        return refused + [d for chunk_result in self._requests().map(post, requests) for d in chunk_result]

    def resolve(self, batch: Batch, known: list[Delivery]) -> dict[str, Resolution]:
        """Cancel the batch while SendGrid still allows it; then nothing of it will be delivered."""
        if batch.send_at is None or not self.settings.scheduled:
            return super().resolve(batch, known)
        # First asked whether it holds a cancel already (a killed run's): the answer's Date also sets SendGrid's clock
        # (`skew`), which a new run does not know yet, and by which alone the cutoff is judged.
        cancelled = self._cancelled(batch.id) is True
        in_time = self.sendgrid_now() < batch.send_at - CANCEL_CUTOFF - CANCEL_MARGIN
        if not cancelled and in_time:
            cancelled = self._cancel(batch.id)
        if cancelled:
            return {d.recipient: Resolution.NOT_SENT for d in known}
        if cancelled is None:  # it may be cancelled: then SendGrid discards even what it accepted, so nobody is sent
            unsure = (f"SendGrid batch {batch.id} was asked to cancel, and whether it did could not be learnt "
                      f"({self.cancel_failure}); `pipeline deliveries` lists them, `--resend unknown` sends again")
            refused = {d.recipient for d in known if d.certain and not d.ok}  # never taken, cancelled or not
            for d in known:
                if d.recipient not in refused:
                    d.error = f"{d.error}; {unsure}" if d.error else unsure
            return {d.recipient: Resolution.NOT_SENT if d.recipient in refused else Resolution.UNKNOWN for d in known}
        why = (f"SendGrid refused to cancel it ({self.cancel_failure})" if in_time and self.cancel_failure
               else f"it could no longer be cancelled before its send time {batch.send_at:%Y-%m-%d %H:%M} UTC")
        late = f"SendGrid batch {batch.id} may have been delivered: {why}"
        for d in known:
            if not d.certain:
                d.error = f"{d.error}; {late}" if d.error else late
        return super().resolve(batch, known)

    def _cancel(self, batch_id: str) -> bool | None:
        """Ask SendGrid to cancel `batch_id`, and confirm it did (the answer to the request may be lost too): True
        when its status says cancel, False when it certainly is not cancelled, None when a cancel may have been
        taken (a request in doubt, or "a status for this batch id exists") but no answer to the question came, or
        only answers saying it holds none, which prove nothing while a cancel may still be on its way to being
        taken: it is asked again, and SendGrid then says it holds one, or refuses it for good."""
        self.cancel_failure = ""
        asked = False  # a cancel may have reached SendGrid and been taken, or be taken yet
        for _ in range(self.settings.max_retries + 1):
            answer, detail, _ = self._call(lambda: self.client.client.user.scheduled_sends.post(
                request_body=json.dumps({"batch_id": batch_id, "status": "cancel"})), retry_in_doubt=True)
            if answer is not Answer.ACCEPTED:
                self.cancel_failure = detail
            asked = asked or answer is not Answer.REFUSED or bool(_STATUS_EXISTS.search(detail))
            status = self._cancelled(batch_id)
            if status or status is False and not asked:
                return status  # False: SendGrid has no cancel for it, and refused it (too late, or too many cancelled)
        return None if asked else False

    def _cancelled(self, batch_id: str) -> bool | None:
        """Whether SendGrid holds a cancel for `batch_id` (`GET /v3/user/scheduled_sends/{batch_id}`, asked at any
        time); None when it did not answer (then `cancel_failure` says why)."""
        answer, detail, body = self._call(lambda: self.client.client.user.scheduled_sends._(batch_id).get(),
                                          retry_in_doubt=True)
        if answer is not Answer.ACCEPTED:
            self.cancel_failure = f"{self.cancel_failure}; its status: {detail}" if self.cancel_failure else detail
            return None
        try:
            listed = json.loads(body or b"[]")
        except ValueError:
            listed = []
        return any(isinstance(s, dict) and s.get("status") == "cancel" for s in listed)

    # -- suppression lists -------------------------------------------------------------------------

    def readmit(self, address: str) -> None:
        """Delete `address` from SendGrid's bounce list, its global unsubscribes and its invalid emails (`DELETE
        /v3/suppression/bounces/{email}`, `DELETE /v3/asm/suppressions/global/{email}`, `DELETE
        /v3/suppression/invalid_emails/{email}`): 204 when it was there, 404 when it was not, both fine. Not from its
        spam reports: a complained address never comes back to the list."""
        spelt = sendable(address)
        if spelt is None:  # never handed to SendGrid, so on none of its lists
            return
        from urllib.parse import quote

        capped = self._lists_capped
        if capped is not None and self.sendgrid_now() < capped[0]:  # a cap hours away: not asked, nor waited out
            raise PipelineError(capped[1])
        path = quote(spelt, safe="@")
        client = self.client.client
        for what, request in (("bounce list", lambda: client.suppression.bounces._(path).delete()),
                              ("global unsubscribes", lambda: client.asm.suppressions._("global")._(path).delete()),
                              ("invalid emails list", lambda: client.suppression.invalid_emails._(path).delete())):
            # deleting twice does no harm; these endpoints have rate limits of their own, which stop no send
            answer, detail, _ = self._call(_not_listed_is_done(request), retry_in_doubt=True, sending=False)
            if answer is not Answer.ACCEPTED:
                raise PipelineError(f"SendGrid did not take it off its {what}: {detail}")

    def _off_invalid_list(self, address: str) -> None:
        """Before a confirmation: delete `address` from SendGrid's invalid emails list, which no bypass filter but
        bypass_list_management (spam reports too) passes; one SendGrid once judged invalid (a mailbox that did not
        exist yet) would never get it, and its drop ("Invalid") would mark them bounced again. A 404 (not on it) is
        the usual answer; a failure is a warning, and the confirmation goes all the same (it reaches all but such an
        address). An address still invalid bounces, and SendGrid lists it again."""
        from urllib.parse import quote

        capped = self._lists_capped
        if capped is not None and self.sendgrid_now() < capped[0]:
            detail = capped[1]
        else:
            path = quote(sendable(address) or address, safe="@")
            answer, detail, _ = self._call(
                _not_listed_is_done(lambda: self.client.client.suppression.invalid_emails._(path).delete()),
                retry_in_doubt=True, sending=False)
            if answer is Answer.ACCEPTED:
                return
        log.warning("sendgrid delivery: could not take the address of a confirmation off SendGrid's invalid emails "
                    "list (%s); were it on it, SendGrid drops the confirmation", detail)

    # -- one request -------------------------------------------------------------------------------

    def _call(self, request, *, retry_in_doubt: bool = False, sending: bool = True) -> tuple[Answer, str, bytes]:
        """(answer, X-Message-Id or the reason, body: the answer's, or SendGrid's errors for a 4xx). 429s and
        requests that never went out whole are retried, since nothing was accepted; an answer in doubt only when
        `retry_in_doubt` (harmless requests). A request of the send's (`sending`) whose 429 resets further ahead
        than `max_wait_seconds` is not retried, and halts the send (`halted`)."""
        from python_http_client.exceptions import HTTPError  # with the client: a run that sends nothing never loads it

        attempts = self.settings.max_retries + 1
        for attempt in range(attempts):
            headers: Mapping[str, str] = {}
            try:
                response = request()
                self._note_clock(response.headers.get("Date"))
                return Answer.ACCEPTED, response.headers.get("X-Message-Id", "") or "", response.body or b""
            except HTTPError as exc:
                reason, headers = describe(exc, self.settings.api_key_env), exc.headers or {}
                if exc.status_code >= 500:
                    answer = Answer.IN_DOUBT
                elif exc.status_code == 429:
                    answer = Answer.REFUSED
                    if sending and (capped := self._cap_reached(headers)):  # hours away: not waited for, nor retried
                        return answer, capped, b""
                    if not sending and (capped := self._lists_cap_reached(headers)):  # the same; the send goes on
                        return answer, capped, b""
                else:
                    body = exc.body or b""
                    return Answer.REFUSED, reason, body.encode() if isinstance(body, str) else body
            except (URLError, OSError, http.client.HTTPException) as exc:  # an answer cut off mid-way is one too
                answer = Answer.REFUSED if _not_connected(exc) else Answer.IN_DOUBT
                reason = f"SendGrid at {self.settings.host}: {_cause(exc)}"
            if answer is Answer.IN_DOUBT and not retry_in_doubt:
                return answer, reason, b""
            if attempt + 1 < attempts:
                time.sleep(retry_delay(headers, attempt, time.time(), self.settings.max_wait_seconds))
        return answer, f"{reason} (gave up after {attempts} attempts)", b""


class _NotListed:
    """The answer to a delete of an address a suppression list does not hold (404): nothing to take off."""

    headers: Mapping[str, str] = {}
    body = b""


def _not_listed_is_done(request):
    """`request`, a delete from a suppression list, with a 404 (the address is not on it) taken as done."""
    from python_http_client.exceptions import HTTPError

    def call():
        try:
            return request()
        except HTTPError as exc:
            if exc.status_code == 404:
                return _NotListed()
            raise
    return call


def payload(mailing: Mailing, batch: Batch | None) -> dict:
    """The v3 mail/send body without its personalizations: text/plain before text/html."""
    content = [{"type": "text/plain", "value": mailing.text}]
    if mailing.html:
        content.append({"type": "text/html", "value": mailing.html})
    body = {
        "from": _party(mailing.sender_email, mailing.sender_name),
        "subject": mailing.safe_subject,
        "content": content,
        "headers": mailing.common_headers(),
        # Whatever the account's defaults: no pixel, no rewritten links, no footer of SendGrid's own (PECR reg. 6
        # asks consent for tracking, which nobody gave; and the issue carries its own unsubscribe links).
        "tracking_settings": {"click_tracking": {"enable": False, "enable_text": False},
                              "open_tracking": {"enable": False}, "subscription_tracking": {"enable": False},
                              "ganalytics": {"enable": False}},
    }
    if mailing.purpose == "confirmation":
        # Asked for by the person it goes to, who may be on SendGrid's bounce list or global unsubscribes from when
        # they left: SendGrid would drop it, and they could never come back (`readmit` takes them off once they
        # have confirmed). Spam reports still hold: a complained address gets no confirmation, as it cannot come back.
        body["mail_settings"] = {"bypass_bounce_management": {"enable": True},
                                 "bypass_unsubscribe_management": {"enable": True}}
    if mailing.edition is not None:
        body["custom_args"] = {"edition": str(mailing.edition)}
    if mailing.reply_to:
        body["reply_to"] = _party(mailing.reply_to)
    if batch is not None and batch.send_at is not None:
        body["batch_id"] = batch.id
        body["send_at"] = int(batch.send_at.timestamp())
    if not body["headers"]:
        del body["headers"]
    return body


def personalization(mailing: Mailing, recipient: Recipient, substitute: bool) -> str:
    """One recipient's entry in `personalizations`, as JSON text (see `SendGrid.__init__`). A name holding a comma or a
    semicolon is left out: SendGrid reads it as addresses, accepts the request and then drops that mail as invalid
    (its documented limit on `to.name`)."""
    name = header_text(recipient.name)
    if "," in name or ";" in name:
        name = ""
    address = sendable(recipient.email)
    to = f'{{"email": {_quote(address)}, "name": {_quote(name)}}}' if name else f'{{"email": {_quote(address)}}}'
    entry = f'{{"to": [{to}]'
    headers = mailing.recipient_headers(recipient)
    if headers:
        entry += ', "headers": {' + ", ".join(f"{_quote(k)}: {_quote(v)}" for k, v in headers.items()) + "}"
    if substitute:
        entry += f', "substitutions": {{{_quote(TOKEN_TAG)}: {_quote(recipient.token)}}}'
    return entry + "}"


def sendable(address: str) -> str | None:
    """`address` as SendGrid takes it (`addresses.ascii_spelling`); None for one it does not send to."""
    from pipeline.subscribers.addresses import ascii_spelling  # here: not loaded with the plugins at start-up

    return ascii_spelling(address)


def retry_delay(headers: Mapping[str, str], attempt: int, now: float, cap: float) -> float:
    """Seconds to wait: until X-RateLimit-Reset for a 429, else 1, 2, 4 ... seconds; never above `cap`.

    The reset is a moment by SendGrid's clock, so it is reckoned from the answer's `Date` (SendGrid's
    now); `now`, the local clock, only when the answer has no readable Date. A local clock that is
    off then makes no difference."""
    wait = rate_limit_wait(headers, now)
    return min(max(2.0 ** attempt if wait is None else wait, 0.0), cap)


def rate_limit_wait(headers: Mapping[str, str], now: float) -> float | None:
    """Seconds until a 429's X-RateLimit-Reset, by SendGrid's clock (the answer's Date; `now` without one);
    None when it gives none that can be read."""
    reset = headers.get("X-RateLimit-Reset") if headers else None
    try:
        return float(reset) - _their_now(headers.get("Date"), now) if reset else None
    except ValueError:
        return None


def _their_now(date_header: str | None, ours: float) -> float:
    """The moment of an HTTP Date header (RFC 9110: whole seconds, GMT) as epoch seconds; `ours` without one."""
    try:
        theirs = parsedate_to_datetime(date_header) if date_header else None
    except (TypeError, ValueError):
        theirs = None
    return theirs.timestamp() if theirs is not None and theirs.tzinfo is not None else ours


def refused_recipients(body: bytes, count: int) -> dict[int, tuple[str, bool]]:
    """{index of a personalization in the request: (SendGrid's reason, whether it says the recipient's address
    itself is invalid)} when every error of a refused mail/send names one of its `count` personalizations
    ("personalizations.3.to.0.email"); {} when any error is about the request as a whole (its sender,
    subject, batch id...), which then fails for everyone."""
    try:
        errors = json.loads(body or b"").get("errors")
    except (ValueError, AttributeError):
        return {}
    named: dict[int, tuple[str, bool]] = {}
    for error in errors if isinstance(errors, list) else []:
        field = str(error.get("field") or "") if isinstance(error, dict) else ""
        found = _PERSONALIZATION.match(field)
        if found is None or int(found[1]) >= count:
            return {}
        message = header_text(error.get("message")) or "no reason given"
        reason, invalid = named.get(int(found[1]), ("", False))
        named[int(found[1])] = (f"{reason}; {message}" if reason else message,
                                invalid or bool(_TO_EMAIL.fullmatch(field) and _INVALID.search(message)))
    return named


def describe(exc: HTTPError, key_env: str) -> str:
    """'SendGrid answered 400: The from address does not match a verified Sender Identity.'"""
    details = "; ".join(_error_messages(exc.body)) or str(getattr(exc, "reason", "") or "no details")
    hint = HINTS.get(exc.status_code, "").format(env=key_env)
    return f"SendGrid answered {exc.status_code}: {details}" + (f" ({hint})" if hint else "")


def _error_messages(body: bytes | str | None) -> list[str]:
    try:
        data = json.loads(body or b"")
        return [str(e.get("message", "")).strip() for e in data.get("errors", []) if e.get("message")]
    except (ValueError, AttributeError, TypeError):
        return []


def _not_connected(exc: Exception) -> bool:
    """True when the request certainly never reached SendGrid whole: urllib wraps in a URLError only what fails before
    the request has gone out whole (opening the connection: refused, timed out, the host unknown or unreachable; the
    TLS handshake, a certificate that cannot be verified; writing the request), never what fails while it waits for
    the answer (a timeout, a connection reset or closed: those come as they are, and are in doubt). A request not
    written whole is one SendGrid cannot have taken."""
    if isinstance(exc, URLError) and not isinstance(exc, AnsweredError):
        return True
    cause = getattr(exc, "reason", exc)
    return isinstance(cause, ConnectionRefusedError | socket.gaierror | ssl.SSLCertVerificationError)


def _party(email: str, name: str = "") -> dict[str, str]:
    party = {"email": email}
    name = header_text(name)
    if name:
        party["name"] = name
    return party


def _cause(exc: Exception) -> str:
    return str(getattr(exc, "reason", "") or exc) or type(exc).__name__


@hookimpl
def register_deliveries(register) -> None:
    register(SendGrid)
