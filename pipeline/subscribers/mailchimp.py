"""Mailchimp's audience export: which of its files a CSV is, from its columns, and what each row's record says.

Mailchimp exports an audience as a zip of CSV files, one per status, each headed `Email Address`, the audience's
own fields (`First Name`, `Last Name`, ...), then Mailchimp's: `MEMBER_RATING`, `OPTIN_TIME`, `OPTIN_IP`,
`CONFIRM_TIME`, `CONFIRM_IP`, `LATITUDE`, ..., `LAST_CHANGED`, `LEID`, `EUID`, `NOTES`, `TAGS`; the unsubscribed
file has `UNSUB_TIME`, `UNSUB_CAMPAIGN_TITLE`, `UNSUB_CAMPAIGN_ID`, `UNSUB_REASON`, `UNSUB_REASON_OTHER` in place
of `LAST_CHANGED`, the cleaned file (addresses Mailchimp stopped mailing after hard bounces) `CLEAN_TIME`,
`CLEAN_CAMPAIGN_TITLE`, `CLEAN_CAMPAIGN_ID`. A file is taken as one of them by its columns (`kind_of`): a file with
`UNSUB_TIME` holds people who unsubscribed, whatever its name; one with `CLEAN_TIME`, addresses that bounced; one
with neither, subscribed members, unless its name says they are Mailchimp's non-subscribed contacts (who never
opted in: not imported). A file in the zip whose name says another kind than its columns is refused
(`archive.read_list`). Mailchimp's tags and groups are not the newsletter's themes: a row follows every theme,
unless a column is named as a theme of the taxonomy (`CsvRow.ticked`, `importing.import_list`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from pipeline.subscribers.addresses import one_line

__all__ = ["Kind", "kind_of", "named_kind"]

# Mailchimp's own columns, lower case as csv_io reads headers: never a theme, nor a name
SYSTEM_COLUMNS = frozenset({
    "member_rating", "optin_time", "optin_ip", "confirm_time", "confirm_ip", "latitude", "longitude", "gmtoff",
    "dstoff", "timezone", "cc", "region", "last_changed", "leid", "euid", "notes", "tags", "unsub_time",
    "unsub_campaign_title", "unsub_campaign_id", "unsub_reason", "unsub_reason_other", "clean_time",
    "clean_campaign_title", "clean_campaign_id", "source", "marketing_permissions",
})
# A file holds Mailchimp's export when its email column is headed `Email Address` and one of these is in its header
# (not `LAST_CHANGED` alone: another tool's list may have one, and its own `status` column must then count)
_MARKERS = frozenset({"member_rating", "optin_time", "confirm_time", "leid", "euid", "unsub_time", "clean_time"})
_UNTICKED = frozenset({"", "no", "n", "false", "0", "off"})  # a yes/no field's answers that tick nothing
_VALUE_CHARS = 200  # of each value a record entry quotes from the file


@dataclass(frozen=True)
class Kind:
    """One of the files of Mailchimp's export."""

    name: str  # subscribed, unsubscribed, cleaned, nonsubscribed
    status: str  # what its rows are imported as; "" for none (not imported)

    def record(self, file: str, row: Mapping[str, str]) -> str:
        """What Mailchimp recorded of `row`'s consent, on one line: where it came from, the change that put it in
        this file (when, why, after which campaign), when and from where it opted in and confirmed."""
        said = [f"Mailchimp export {file}: {self.name}"]
        if self.name == "unsubscribed":
            said[0] += _when(row, "unsub_time") + _details(row, ("reason", "unsub_reason"),
                                                           ("other reason", "unsub_reason_other"),
                                                           ("campaign", "unsub_campaign_title"))
        elif self.name == "cleaned":
            said[0] += " (bounced)" + _when(row, "clean_time") + _details(row, ("campaign", "clean_campaign_title"))
        for what, time, ip in (("opted in", "optin_time", "optin_ip"), ("confirmed", "confirm_time", "confirm_ip")):
            if _value(row, time) or _value(row, ip):
                said.append(what + _when(row, time) + (f" from {_value(row, ip)}" if _value(row, ip) else ""))
        if _value(row, "last_changed"):
            said.append(f"last changed {_value(row, 'last_changed')}")
        return "; ".join(said)

    def ticked(self, row: Mapping[str, str], own: frozenset[str]) -> frozenset[str]:
        """The audience's own columns (not Mailchimp's, nor those in `own`: the email and name) that `row` fills
        in, in the header's spelling: each may be named as a theme (`importing.import_list`)."""
        return frozenset(column for column, value in row.items()
                         if isinstance(column, str) and column not in SYSTEM_COLUMNS and column not in own
                         and isinstance(value, str) and value.strip().casefold() not in _UNTICKED)


SUBSCRIBED = Kind("subscribed", "active")
UNSUBSCRIBED = Kind("unsubscribed", "unsubscribed")
CLEANED = Kind("cleaned", "bounced")
NONSUBSCRIBED = Kind("nonsubscribed", "")

# The names Mailchimp gives its files: subscribed_members_export_<id>.csv, subscribed_email_audience_export_<id>.csv,
# members_export_<id>.csv (older: the subscribed members), unsubscribed_..., cleaned_..., nonsubscribed_...
_NAMES = (
    (re.compile(r"(non[_-]?subscribed|transactional)[_-].*\.csv"), NONSUBSCRIBED),
    (re.compile(r"unsubscribed[_-].*\.csv"), UNSUBSCRIBED),
    (re.compile(r"cleaned[_-].*\.csv"), CLEANED),
    (re.compile(r"(subscribed[_-].*|members_export.*)\.csv"), SUBSCRIBED),
)


def named_kind(file_name: str) -> Kind | None:
    """The kind of file Mailchimp gives the name `file_name` (without its folder), or None for a name it never
    gives."""
    lowered = file_name.casefold()
    return next((kind for pattern, kind in _NAMES if pattern.fullmatch(lowered)), None)


def kind_of(columns: list[str], file_name: str) -> Kind | None:
    """Which file of Mailchimp's export a CSV with `columns` (its header, lower case) is, or None when it is not
    one (no `Email Address`, or no column of Mailchimp's own: a list of its own, whose `status` column counts).
    Its columns decide, never its name alone: only between subscribed members and non-subscribed contacts, whose
    columns are alike, does its name (`file_name`) tell."""
    present = set(columns)
    if "email address" not in present or not present & _MARKERS:
        return None
    if "unsub_time" in present:
        return UNSUBSCRIBED
    if "clean_time" in present:
        return CLEANED
    return NONSUBSCRIBED if named_kind(file_name) is NONSUBSCRIBED else SUBSCRIBED


def _value(row: Mapping[str, str], column: str) -> str:
    value = row.get(column)
    return one_line(value, _VALUE_CHARS) if isinstance(value, str) else ""


def _when(row: Mapping[str, str], column: str) -> str:
    return f" {_value(row, column)}" if _value(row, column) else ""


def _details(row: Mapping[str, str], *named: tuple[str, str]) -> str:
    found = [f"{what}: {_value(row, column)}" for what, column in named if _value(row, column)]
    return f" ({', '.join(found)})" if found else ""
