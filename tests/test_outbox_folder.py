"""Where the outbox keeps its .eml files: `outbox/` beside pipeline.toml, never inside `out_dir`, the readers'
published site (each file is named after a subscriber's address and holds their unsubscribe link). An outbox an
earlier version left in `out/outbox/` is moved by the next run that holds the lock, and a batch it left in flight
there is settled by the files it wrote: nothing lost, nobody written to twice."""

from __future__ import annotations

import errno
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pipeline.cli import main
from pipeline.state import Store, journal
from plugins.deliveries.outbox import file_name
from tests.newsletter_network import POST, newsletter_toml

READERS = "email,name\nann@example.org,Ann\nbob@example.org,Bob\ncat@example.org,Cat\n"
CONFIRMATION = b"To: dan@example.org\r\nSubject: Confirm your subscription\r\n\r\nbody\r\n"
BOBS = b"To: Bob <bob@example.org>\r\nSubject: Test Network: issue 1\r\n\r\nwritten before the run was killed\r\n"


def run(config, *args: str) -> int:
    return main(["run", "-c", str(config), "--as-of", "2016-03-01", *args])


def files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def journal_of(config) -> tuple[dict, list]:
    store = Store(config.parent / "state" / "pipeline.sqlite")
    try:
        return journal.counts(store), [batch.id for batch in journal.open_batches(store)]
    finally:
        store.close()


def test_the_outbox_is_written_beside_pipeline_toml_and_not_in_the_published_folder(write_project):
    config = write_project(newsletter_toml(), {"blog/post.md": POST, "subscribers.csv": READERS})

    assert run(config) == 0

    assert sorted(files(config.parent / "outbox")) == sorted(f"issue-1/{file_name(r)}" for r in
                                                             ("ann@example.org", "bob@example.org", "cat@example.org"))
    assert not (config.parent / "out" / "outbox").exists()


@pytest.mark.parametrize("folder", ["out/outbox", "out", "out/../out/mail", "{root}/out/mail", "public/mail"])
def test_a_folder_inside_out_dir_is_refused_at_start_up(write_project, capsys, folder):
    config = write_project(newsletter_toml(delivery=f'type = "outbox"\n    folder = "{folder}"'),
                           {"blog/post.md": POST, "subscribers.csv": READERS})
    config.write_text(config.read_text().replace("{root}", str(config.parent)))
    (config.parent / "out").mkdir()
    (config.parent / "public").symlink_to(config.parent / "out")  # the web server's name for it

    assert main(["check", "-c", str(config)]) == 2

    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("error: pipeline.toml: [sinks.newsletter.delivery] (outbox): folder: ")
    assert f"is inside out_dir ({config.parent / 'out'}), which is published as the readers' site" in line
    assert "choose a folder outside out_dir" in line
    assert run(config) == 2 and not (config.parent / "state").exists()  # a run refuses it too, before anything


@pytest.mark.parametrize(("folder", "out_dir"), [("mail", "out"), ("outbox", "out"), ("out/outbox", "site")])
def test_a_folder_outside_out_dir_is_used_as_before(write_project, folder, out_dir):
    toml = f'[pipeline]\nname = "Test Network"\nsite_url = "https://network.example.org"\nout_dir = "{out_dir}"\n'
    config = write_project(toml + newsletter_toml(delivery=f'type = "outbox"\n    folder = "{folder}"'),
                           {"blog/post.md": POST, "subscribers.csv": READERS})

    assert run(config) == 0

    assert len(files(config.parent / folder)) == 3


def old_outbox(write_project) -> Path:
    """A project as an earlier version left it: issue 1 went to ann, in out/outbox/; then bob and cat joined and
    the run sending it to them was killed after writing bob's file there; a confirmation is in messages/."""
    config = write_project(newsletter_toml(), {"blog/post.md": POST, "subscribers.csv": READERS.replace(
        "bob@example.org,Bob\ncat@example.org,Cat\n", "")})
    assert run(config) == 0
    old = config.parent / "out" / "outbox"
    if not old.exists():
        (config.parent / "outbox").rename(old)  # where the earlier version wrote it
    (old / "messages").mkdir()
    # named when it was written, as the outbox names them (one older than keep_message_days would go at the next send)
    (old / "messages" / f"{datetime.now():%Y%m%d-%H%M%S-%f}-dan@example.org-0123456789.eml").write_bytes(CONFIRMATION)
    (config.parent / "subscribers.csv").write_text(READERS)
    store = Store(config.parent / "state" / "pipeline.sqlite")
    now = datetime.now(UTC)
    journal.begin_batch(store, batch="killed", edition=1, channel="outbox",
                        recipients=["bob@example.org", "cat@example.org"], send_at=None, at=now)
    store.close()
    (old / "issue-1" / file_name("bob@example.org")).write_bytes(BOBS)
    return config


def test_an_outbox_left_in_out_is_moved_and_its_batch_in_flight_settled_by_the_files_there(write_project, capsys):
    config = old_outbox(write_project)
    old, new = config.parent / "out" / "outbox", config.parent / "outbox"
    before = files(old)
    capsys.readouterr()

    assert run(config) == 0

    captured = capsys.readouterr()
    assert f"warning: moved the outbox from {old} to {new}, out of the published site" in captured.err
    assert "batch killed left in flight by an interrupted run: 1 sent, 1 to send again, 0 unknown" in captured.out
    assert "issue 1: 1 sent via outbox, 2 already sent" in captured.out
    assert not old.exists()
    after = files(new)
    assert {name: after[name] for name in before} == before  # every file kept as it was, bob's not written again
    assert sorted(after) == sorted([*before, f"issue-1/{file_name('cat@example.org')}"])
    assert journal_of(config) == ({1: {"sent": 3}}, [])

    assert run(config) == 0  # and the next run has nothing to move, and sends nobody the issue again
    captured = capsys.readouterr()
    assert "moved" not in captured.err and "issue 1: 0 sent via outbox, 3 already sent" in captured.out
    assert files(new) == after and journal_of(config) == ({1: {"sent": 3}}, [])


@pytest.mark.parametrize("there", [{}, {f"messages/{datetime.now():%Y%m%d-%H%M%S-%f}-eve@example.org-98765.eml": b"E"}],
                         ids=["made empty for the service", "with a confirmation serve wrote since"])
def test_an_outbox_already_beside_pipeline_toml_gets_what_it_lacks(write_project, capsys, there):
    config = old_outbox(write_project)
    old, new = config.parent / "out" / "outbox", config.parent / "outbox"
    new.mkdir()
    for name, data in there.items():
        (new / name).parent.mkdir(parents=True, exist_ok=True)
        (new / name).write_bytes(data)
    before = {**files(old), **there}

    assert run(config) == 0

    assert "moved the outbox" in capsys.readouterr().err and not old.exists()
    after = files(new)
    assert {name: after[name] for name in before} == before
    assert sorted(after) == sorted([*before, f"issue-1/{file_name('cat@example.org')}"])
    assert journal_of(config) == ({1: {"sent": 3}}, [])


def test_across_file_systems_each_file_is_copied_whole_and_a_move_stopped_half_way_carries_on(
        write_project, capsys, monkeypatch):
    config = old_outbox(write_project)
    old, new = config.parent / "out" / "outbox", config.parent / "outbox"
    before = files(old)
    ann = f"issue-1/{file_name('ann@example.org')}"
    (new / "issue-1").mkdir(parents=True)
    (new / ann).write_bytes(before[ann])  # copied by a move that was stopped before it removed the original
    rename, refused = os.rename, []

    def across(source, target, *args, **kwargs):  # out/ and outbox/ on two volumes, as under Docker or systemd
        if Path(source).is_relative_to(old):
            refused.append(Path(source).relative_to(old))
            raise OSError(errno.EXDEV, os.strerror(errno.EXDEV), str(source), None, str(target))
        return rename(source, target, *args, **kwargs)

    monkeypatch.setattr(os, "rename", across)

    assert run(config) == 0

    assert Path("messages") in refused and Path(f"issue-1/{file_name('bob@example.org')}") in refused
    assert "moved the outbox" in capsys.readouterr().err and not old.exists()
    after = files(new)
    assert {name: after[name] for name in before} == before
    assert sorted(after) == sorted([*before, f"issue-1/{file_name('cat@example.org')}"])  # no temporary file left
    assert journal_of(config) == ({1: {"sent": 3}}, [])


def test_a_file_both_outboxes_hold_with_other_contents_stops_the_run_before_anything_moves(write_project, capsys):
    config = old_outbox(write_project)
    old, new = config.parent / "out" / "outbox", config.parent / "outbox"
    bob = new / "issue-1" / file_name("bob@example.org")
    bob.parent.mkdir(parents=True)
    bob.write_bytes(b"another message")
    before = files(old)
    capsys.readouterr()

    assert run(config) == 2

    [line] = capsys.readouterr().err.strip().splitlines()
    assert line == (f"error: pipeline.toml: [sinks.newsletter.delivery] (outbox): cannot move the outbox from {old} "
                    f"to {new}: {bob} is in both, with other contents; keep the right one in {new}, delete {old} "
                    f"and run again")
    assert files(old) == before and files(new) == {f"issue-1/{bob.name}": b"another message"}
    assert journal_of(config) == ({1: {"sent": 1, "in_flight": 2}}, ["killed"])  # nothing settled or sent


def test_an_outbox_that_cannot_be_moved_stops_the_run_and_says_what_to_do(write_project, capsys):
    config = old_outbox(write_project)
    old, new = config.parent / "out" / "outbox", config.parent / "outbox"
    new.write_text("a file where the outbox goes")
    before = files(old)
    capsys.readouterr()

    assert run(config) == 2

    [line] = capsys.readouterr().err.strip().splitlines()
    assert f"cannot move the outbox from {old}, which the site publishes, to {new} (Not a directory: {new}); " \
           f"make {new} a folder this user can write" in line
    assert files(old) == before and journal_of(config) == ({1: {"sent": 1, "in_flight": 2}}, ["killed"])


def test_an_old_outbox_that_is_a_link_is_left_for_the_organiser(write_project, capsys, tmp_path_factory):
    config = old_outbox(write_project)
    old = config.parent / "out" / "outbox"
    elsewhere = tmp_path_factory.mktemp("disk") / "outbox"
    old.rename(elsewhere)
    old.symlink_to(elsewhere)
    capsys.readouterr()

    assert run(config) == 2

    [line] = capsys.readouterr().err.strip().splitlines()
    assert line == (f"error: pipeline.toml: [sinks.newsletter.delivery] (outbox): {old} is not a folder the outbox "
                    f"wrote; move what it holds to {config.parent / 'outbox'}, or set folder in "
                    f"[sinks.newsletter.delivery] to the folder it leads to, outside {old.parent}")
    assert old.is_symlink() and journal_of(config)[1] == ["killed"]


def test_with_a_folder_set_an_outbox_in_out_is_left_as_it_is(write_project, capsys):
    config = old_outbox(write_project)
    old = config.parent / "out" / "outbox"
    before = files(old)
    config.write_text(config.read_text() + '\n[sinks.newsletter.delivery]\ntype = "outbox"\nfolder = "mail"\n')

    run(config)

    err = capsys.readouterr().err
    assert "moved" not in err
    assert files(old) == before and (config.parent / "mail").is_dir()
    # ... but published: each command says so, until the organiser deletes it
    assert f"{old} still holds messages an earlier version's outbox wrote, and is published" in err
    assert f"delete {old} (this outbox writes to {config.parent / 'mail'})" in err
    for path in sorted(old.rglob("*"), reverse=True):
        path.rmdir() if path.is_dir() else path.unlink()
    run(config)
    assert "still holds messages" not in capsys.readouterr().err


def test_an_old_outbox_that_is_a_link_to_the_folder_set_is_said_to_be_published(write_project, capsys,
                                                                                 tmp_path_factory):
    # What the error above says to do: set folder to where the link leads. The link stays in out/, published with
    # the site, and now leads to every message the outbox writes; it was the one case no command mentioned
    config = old_outbox(write_project)
    old = config.parent / "out" / "outbox"
    elsewhere = tmp_path_factory.mktemp("disk") / "outbox"
    old.rename(elsewhere)
    old.symlink_to(elsewhere)
    config.write_text(config.read_text() + f'\n[sinks.newsletter.delivery]\ntype = "outbox"\nfolder = "{elsewhere}"\n')
    capsys.readouterr()

    run(config)

    err = " ".join(capsys.readouterr().err.split())
    assert f"{old} is a link to {elsewhere.resolve()}, which holds messages, and is published with the site" in err
    assert f"delete {old} (this outbox writes to {elsewhere})" in err
    assert old.is_symlink() and files(elsewhere)  # nothing deleted for the organiser


def test_an_outbox_beside_pipeline_toml_that_links_to_the_old_one_stops_the_run_and_nothing_is_lost(
        write_project, capsys):
    config = old_outbox(write_project)
    old, new = config.parent / "out" / "outbox", config.parent / "outbox"
    new.symlink_to(old)  # an organiser keeping the old place working
    before = files(old)
    capsys.readouterr()

    assert run(config) == 2

    [line] = capsys.readouterr().err.strip().splitlines()
    assert line == (f"error: pipeline.toml: [sinks.newsletter.delivery] (outbox): {new} leads inside out_dir "
                    f"({config.parent / 'out'}), which is published as the readers' site, so the outbox cannot be "
                    f"moved out of it; make {new} a folder of its own outside out_dir (not a link to {old}), or set "
                    f"folder in [sinks.newsletter.delivery] to one")
    assert files(old) == before and journal_of(config) == ({1: {"sent": 1, "in_flight": 2}}, ["killed"])


@pytest.mark.parametrize("inside", [False, True])
def test_a_folder_is_never_moved_into_itself(tmp_path, inside):
    from pipeline.files import move_folder

    old = tmp_path / "old"
    (old / "sub").mkdir(parents=True)
    (old / "sub" / "a.eml").write_bytes(b"A")
    new = tmp_path / "new"
    new.symlink_to(old / "sub" if inside else old)

    with pytest.raises(OSError) as raised:
        move_folder(old, new)

    assert raised.value.errno == errno.EINVAL
    assert files(old) == {"sub/a.eml": b"A"}
