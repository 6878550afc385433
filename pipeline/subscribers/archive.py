"""A subscriber list from a file: a CSV (`csv_io.read_csv`), or Mailchimp's audience export, the zip it downloads.

Every CSV of the zip is read as it unpacks, never held whole, each taken as the file of the export its columns say
it is (`mailchimp.kind_of`), and their rows make one list (`csv_io.keep`: an address in two files keeps the row that
takes it off the list), so one import takes them all, in the transactions one CSV takes. The files macOS adds when
it zips a folder again (`__MACOSX/.../._NAME`, `.DS_Store`) are left out, unread. The zip is refused whole, in one
line and before anything is imported, for any other member Mailchimp's export never holds (its name is not one
Mailchimp gives, `..` or an absolute path, a symbolic link, whatever its name, not a CSV), a file whose columns say
another kind than its name, an encrypted or damaged member, or more than `MAX_UNPACKED` bytes once unpacked (a zip
bomb: what each member says it holds is checked first, and what it gives is counted as it is read, so a member that
lies about its size is stopped there too).
"""

from __future__ import annotations

import io
import stat
import zipfile
import zlib
from dataclasses import replace
from pathlib import Path, PurePosixPath
from typing import IO, TextIO

from pipeline.errors import SubscriberError
from pipeline.subscribers.csv_io import CsvList, keep, read_csv
from pipeline.subscribers.mailchimp import named_kind

__all__ = ["MAX_UNPACKED", "read_list"]

MAX_UNPACKED = 256 * 1024 * 1024  # bytes the CSVs of a zip may hold unpacked: an audience of about a million
MAX_MEMBERS = 100  # Mailchimp's export has four files at most


def read_list(path: Path) -> CsvList:
    """The rows of the list `path` holds: a CSV, or a zip of Mailchimp's audience export (`read_zip`)."""
    if path.suffix.lower() == ".zip" or (path.is_file() and zipfile.is_zipfile(path)):
        return read_zip(path)
    return read_csv(path)


def read_zip(path: Path) -> CsvList:
    """Every CSV of the zip `path` as one list, each row naming the file it came from (`the.zip/its.csv:LINE`).

    Raises SubscriberError (one line naming the zip and the member) when the zip cannot be taken whole.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            return _read(path, archive)
    except OSError as exc:
        raise SubscriberError(f"{path}: cannot read the zip ({exc.strerror or exc}); check the path") from None
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as exc:
        raise SubscriberError(f"{path}: not a zip file that can be read ({exc}); download Mailchimp's export again")\
            from None


def _read(path: Path, archive: zipfile.ZipFile) -> CsvList:
    members = [info for info in archive.infolist() if not info.is_dir()]
    if len(members) > MAX_MEMBERS:
        raise SubscriberError(f"{path}: {len(members)} files; Mailchimp's audience export holds a few CSV files: "
                              f"import those")
    for info in members:
        _check_path(path, info.filename)
        if not _left_by_macos(info.filename):
            _check_kind(path, info.filename)
        if stat.S_ISLNK(info.external_attr >> 16):
            raise SubscriberError(f"{path}: {info.filename} is a symbolic link, which Mailchimp's export never "
                                  f"holds; refused, nothing imported: use the zip Mailchimp gave")
    members = [info for info in members if not _left_by_macos(info.filename)]  # never read
    declared = sum(info.file_size for info in members)
    if declared > MAX_UNPACKED:
        raise SubscriberError(f"{path}: its files would unpack to {declared:,} bytes, more than the "
                              f"{MAX_UNPACKED:,} an audience export needs; nothing imported")
    if not members:
        raise SubscriberError(f"{path}: holds no CSV file; download Mailchimp's audience export again")
    combined = CsvList(path)
    seen: dict[str, int] = {}
    budget = MAX_UNPACKED
    for info in members:
        if info.flag_bits & 0x1:
            raise SubscriberError(f"{path}: {info.filename} is encrypted; export the audience again without a "
                                  f"password")
        label = Path(f"{path}/{info.filename}")
        member = _Member(archive, info, budget, path)
        listed = read_csv(label, member.open_text)
        budget -= member.unpacked
        named = named_kind(PurePosixPath(info.filename).name)  # never None: `_check_kind`
        if listed.kind != named.name:
            said = f"those of Mailchimp's {listed.kind} file" if listed.kind else "not those of Mailchimp's export"
            raise SubscriberError(f"{path}: {info.filename} is named as Mailchimp's {named.name} "
                                  f"file, but its columns are {said}; nothing imported: export the audience from "
                                  f"Mailchimp again, or import each CSV on its own")
        combined.problems += listed.problems
        combined.not_opted_in += listed.not_opted_in
        rows, listed.rows = listed.rows, []
        for n, row in enumerate(rows):
            rows[n] = None  # each row let go as its copy is kept, so a big export is never held twice
            keep(combined, seen, replace(row, source=str(label)))
    return combined


class _Member:
    """One CSV of the zip, opened as text (as often as `read_csv` asks) and read as it unpacks, never whole: each
    opening is stopped past `limit` bytes, what is left of `MAX_UNPACKED`."""

    def __init__(self, archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int, path: Path):
        self._archive, self._info, self._limit, self._path = archive, info, limit, path
        self.unpacked = 0  # bytes it gave, read through

    def open_text(self) -> TextIO:
        return io.TextIOWrapper(io.BufferedReader(_Bounded(self, self._archive.open(self._info))),
                                encoding="utf-8-sig", newline="")

    def count(self, read: int) -> None:
        self.unpacked = max(self.unpacked, read)
        if read > self._limit:
            raise SubscriberError(f"{self._path}: {self._info.filename} unpacks to more than it says; more than "
                                  f"{MAX_UNPACKED:,} bytes in all; nothing imported")


class _Bounded(io.RawIOBase):
    """A member's bytes as they unpack, each chunk counted (`_Member.count`)."""

    def __init__(self, member: _Member, raw: IO[bytes]):
        self._member, self._raw, self._read = member, raw, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        got = self._raw.readinto(buffer)
        self._read += got
        self._member.count(self._read)
        return got

    def close(self) -> None:
        self._raw.close()
        super().close()


def _parts(name: str) -> tuple[str, ...]:
    return PurePosixPath(name.replace("\\", "/")).parts


def _check_path(path: Path, name: str) -> None:
    parts = _parts(name)
    if not parts or name.startswith(("/", "\\")) or ".." in parts or ":" in parts[0]:
        raise SubscriberError(f"{path}: a file in it is named {name!r}, a path outside the zip; refused, nothing "
                              f"imported: use the zip Mailchimp gave")


def _left_by_macos(name: str) -> bool:
    """Whether `name` (a path `_check_path` let through) is what macOS adds when it zips a folder: an AppleDouble
    file (`__MACOSX/.../._NAME`, the Finder's data of NAME) or the Finder's `.DS_Store`."""
    parts = _parts(name)
    return (parts[0] == "__MACOSX" and len(parts) > 1 and parts[-1].startswith("._")) or parts[-1] == ".DS_Store"


def _check_kind(path: Path, name: str) -> None:
    parts = _parts(name)
    if named_kind(parts[-1]) is None:
        raise SubscriberError(f"{path}: {name!r} is not one of the files of Mailchimp's audience export "
                              f"(subscribed_*.csv, unsubscribed_*.csv, cleaned_*.csv, nonsubscribed_*.csv); "
                              f"nothing imported: take it out of the zip, or import each CSV on its own")

