"""`webhook`: posts a JSON summary of each new issue to a URL (a chat's webhook, say); a token from the environment."""
import os

from pipeline import hookimpl, site
from pipeline.components import Settings, Sink, SinkResult
from pipeline.errors import SinkError
from pipeline.settings_types import EnvVarName, HttpUrl


class Webhook(Sink):
    name = "webhook"

    class Settings(Settings):
        url: HttpUrl  # refused at start-up unless an absolute http(s) address
        token_env: EnvVarName | None = None  # e.g. "NETWORK_WEBHOOK_TOKEN": sent as "Authorization: Bearer <its value>"

    def write(self, edition, run):
        if edition is None or run.dry_run:  # a refresh, nothing new since the last issue, or `run --dry-run`
            return SinkResult("no new issue: nothing posted")
        token = os.environ.get(self.settings.token_env or "", "")
        if self.settings.token_env and not token:
            raise SinkError(f"environment variable {self.settings.token_env} is not set; set it to the token")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        pages = site.own_pages(self.project, run.store)  # so each links the page the archive gives it
        items = [{"kind": item.kind.value, "title": item.title, "url": site.item_link(self.project, item, pages)}
                 for item in edition.items]
        summary = {"network": self.project.core.name, "issue": edition.number, "title": edition.title,
                   "url": site.edition_url(self.project, edition.number), "items": items}
        response = run.http.post(self.settings.url, json=summary, headers=headers)  # httpx, with timeouts
        if response.is_error:  # the run then fails (exit 1), after every other sink has had its turn
            raise SinkError(f"{self.settings.url} answered {response.status_code} {response.reason_phrase}")
        return SinkResult(f"posted issue {edition.number} ({len(items)} items) to {self.settings.url}")


@hookimpl
def register_sinks(register):
    register(Webhook)
