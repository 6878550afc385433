"""Review of the site's all-or-nothing writing (`pipeline.files.Staged`, commit 72d9e98)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pipeline.files import Staged, write_atomic
from pipeline.run_report import failure_reason


def contents(folder: Path) -> dict[str, bytes]:
    return {path.relative_to(folder).as_posix(): path.read_bytes() for path in folder.rglob("*") if path.is_file()}


def folders(folder: Path) -> set[str]:
    return {path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_dir()}


# -- a rename that fails names the file, once ---------------------------------------------------------------

def test_a_file_that_cannot_be_put_in_place_is_named_on_one_line_without_a_second_name(tmp_path):
    (tmp_path / "taken.html").mkdir()  # a folder made by hand where the file goes
    with pytest.raises(OSError) as raised:
        write_atomic(tmp_path / "taken.html", "page")
    assert failure_reason(raised.value) == f"IsADirectoryError: [Errno 21] Is a directory: '{tmp_path}/taken.html'"
    assert isinstance(raised.value, IsADirectoryError)

    staged = Staged()
    staged.write(tmp_path / "taken.html", "page")
    with pytest.raises(OSError) as raised:
        staged.commit()
    assert failure_reason(raised.value) == f"IsADirectoryError: [Errno 21] Is a directory: '{tmp_path}/taken.html'"
    assert os.listdir(tmp_path) == ["taken.html"]
