"""The `pipeline` command: run, refresh, check, plugins, status, preview, send-test, deliveries, explain,
schedule, subscribers, serve, backup, plugin new and init; -v, -q and --log-file on each (pipeline/logs.py).

With `--json` (run, refresh, check, plugins, status), standard output is one JSON document and
nothing else: while the command runs, whatever would go to standard output goes to standard error,
and an error becomes {"ok": false, "exit_code": N, "errors": [...]} (its lines on standard error too).
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import difflib
import importlib
import json
import os
import signal
import sys
import threading
from datetime import date
from pathlib import Path

from pipeline import __version__
from pipeline.errors import PipelineError, Stop, exception_text
from pipeline.logs import DEBUG_ENV
from pipeline.memory import limit_malloc_arenas


class Stopped(Stop):
    """SIGTERM (or SIGINT, or SIGHUP): unwind every `with` and `finally`, so locks are released and files whole."""

    def __init__(self, signal_number: int):
        super().__init__(signal_number)
        self.name = signal.Signals(signal_number).name
        self.exit_code = 128 + signal_number


def _stop(signal_number, frame) -> None:
    raise Stopped(signal_number)


def _console(stderr: bool = False):
    from pipeline.commands.core import _console as console
    return console(stderr)


def _escape(text: str) -> str:
    from rich.markup import escape
    return escape(text)


def _later(module: str, name: str):
    """A handler imported when its command runs, not when the parser is built."""
    def handler(args) -> int:
        return getattr(importlib.import_module(module), name)(args)
    return handler


cmd_status = _later("pipeline.commands.status", "cmd_status")
cmd_run, cmd_refresh, cmd_check, cmd_plugins = (
    _later("pipeline.commands.core", name) for name in ("cmd_run", "cmd_refresh", "cmd_check", "cmd_plugins"))
cmd_schedule = _later("pipeline.commands.schedule", "cmd_schedule")


def console() -> None:
    """The `pipeline` command (pyproject's script, and `python -m pipeline`): `main`, then a quick exit.

    By the time `main` returns, everything a command writes is committed, closed or flushed; what is left of a
    normal exit is tearing the interpreter down object by object, 30 to 50 ms (a tenth of a run where every feed
    answers 304). So the atexit handlers run (logging's, which close the log file, and multiprocessing's), the
    standard streams are flushed, and the process ends. A file a plugin left open is not flushed: close what
    you open (README, "Writing a plugin"). While a thread that is not a daemon still runs, or when `main` gives
    something other than a number, the exit is the usual one.

    Unless a thread was given up (`time_limits.give_up`: a send's batch whose delivery never returned): the
    usual exit would wait for it for ever, and the state folder's lock with it, so the process ends here all
    the same, the thread with it, as if killed there; the journal is built to be cut off so, and the next run
    settles the batch. This rather than daemon threads for the batches: the interpreter still joins a
    ThreadPoolExecutor's workers at exit, daemons or not, and a daemon still running while the interpreter is
    torn down may be in SQLite, writing through a connection being freed; ending the process stops every
    thread at one instruction, once the run is recorded and the output flushed, as SIGKILL would.
    """
    _mask_what_python_prints()  # the process's, not main()'s: a program (a test) calling main() keeps Python's own
    code = main()
    limits = sys.modules.get("pipeline.time_limits")  # nothing is given up without it: not imported for that
    stuck = limits.given_up() if limits is not None else []
    if not stuck and (type(code) is not int or any(not thread.daemon for thread in threading.enumerate()
                                                   if thread is not threading.main_thread())):
        sys.exit(code)
    code = code if type(code) is int else 1
    atexit._run_exitfuncs()
    for stream in dict.fromkeys((sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__)):  # each once
        if stream is None:  # closed before Python started
            continue
        try:
            stream.flush()
        except ValueError:  # closed since: nothing was waiting in it
            pass
        except OSError as exc:  # a full disk, or a reader that went away: the output is cut short
            with contextlib.suppress(OSError, ValueError, AttributeError):
                sys.__stderr__.write(f"error: the output could not be written ({exc.strerror or exc})\n")
                sys.__stderr__.flush()
            code = code or 120  # what Python's own exit gives then
    os._exit(code)


def main(argv: list[str] | None = None) -> int:
    limit_malloc_arenas()  # before any thread starts
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _stop)
        if signal.getsignal(signal.SIGHUP) is signal.SIG_DFL:  # the terminal closed; left ignored under nohup
            signal.signal(signal.SIGHUP, _stop)
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = _parser(argv)
    _suggest(parser, argv)
    args = parser.parse_args(argv)
    if _loudness(args)[0] and _loudness(args)[1]:
        parser.error("-v (--verbose) and -q (--quiet) cannot be given together, before or after the command")
    args.config = args.config or args.config_before or Path("pipeline.toml")
    args.json_out = sys.stdout if getattr(args, "json", False) else None
    try:
        _logging(args)
    except PipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        if args.json_out is not None:
            write_json(args.json_out, {"ok": False, "exit_code": exc.exit_code, "errors": [str(exc)]})
        return exc.exit_code
    if args.json_out is None:
        return _call(args)[0]
    with contextlib.redirect_stdout(sys.stderr):  # a plugin's print() or a warning cannot spoil the JSON
        code, errors = _call(args)
    if errors is not None:
        write_json(args.json_out, {"ok": False, "exit_code": code, "errors": errors})
    return code


def _mask_what_python_prints() -> None:
    """Python's own printing of an error no code caught in a thread, of a warning and of an error it could not raise
    (in a finaliser), credentials masked as in every message, for the rest of the `pipeline` command's process; a
    hook put in place before (by sitecustomize, say) is left alone."""
    import warnings

    if threading.excepthook is threading.__excepthook__:
        threading.excepthook = _masked_thread_error
    if warnings.showwarning is getattr(warnings, "_showwarning_orig", None):
        warnings.showwarning = _masked_warning
    if sys.unraisablehook is sys.__unraisablehook__:
        sys.unraisablehook = _masked_unraisable


def _masked_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """A warning (a plugin's own, naming the address it fetched, say) as Python prints it, a credential masked."""
    import warnings

    from pipeline.redact import redact_text

    stream = sys.stderr if file is None else file
    if stream is None:  # no standard error (closed before Python started): nowhere to say it, as Python does
        return
    with contextlib.suppress(OSError):
        stream.write(redact_text(warnings.formatwarning(message, category, filename, lineno, line)))


def _masked_unraisable(args) -> None:
    """What Python prints of an error it could not raise (a plugin's generator or `__del__` that raises as it is
    collected), a credential masked: the object it came from, and the traceback."""
    import traceback

    from pipeline.redact import redact_text

    if sys.stderr is None:
        return
    head = args.err_msg or "Exception ignored in"
    if args.object is not None:
        try:
            head = f"{head}: {args.object!r}"
        except Exception:
            head = f"{head}: <object repr() failed>"
    lines = traceback.format_exception(args.exc_type, args.exc_value, args.exc_traceback)
    print(redact_text(f"{head}\n{''.join(lines)}".rstrip("\n")), file=sys.stderr)


def _masked_thread_error(args: threading.ExceptHookArgs) -> None:
    """What Python prints of an error no code caught in a thread (a plugin's own thread, say), a credential in it
    masked as in every message."""
    if args.exc_type is SystemExit or args.exc_value is None or sys.stderr is None:  # (print would use stdout)
        return
    from pipeline.logs import traceback_text

    where = args.thread.name if args.thread is not None else "a thread"
    print(f"Exception in thread {where}:\n{traceback_text(args.exc_value)}", file=sys.stderr)


def _log_error(message: str, exc: BaseException | None = None) -> None:
    """For the log file: the error the terminal shows as the command's own last words (with `exc`'s traceback)."""
    import logging

    from pipeline.logs import SHOWN
    logging.getLogger("pipeline").error(" ".join(message.split()), exc_info=exc, extra=SHOWN)


_PLACES = ("_action", "", "_before")  # an action's options (`subscribers list -v`), the command's, the main parser's


def _loudness(args) -> tuple[int, bool]:
    """(how many -v, whether -q) given before the command, after it or after its action, all counted."""
    return (sum(getattr(args, f"verbose{place}", 0) or 0 for place in _PLACES),
            any(getattr(args, f"quiet{place}", False) for place in _PLACES))


def _logging(args) -> None:
    """--verbose, --quiet and --log-file, given before or after the command (the last given --log-file wins)."""
    from pipeline import logs

    verbose, quiet = _loudness(args)
    log_file = next(filter(None, (getattr(args, f"log_file{place}", None) for place in _PLACES)), None)
    logs.configure(verbose=verbose, quiet=quiet, log_file=log_file)


def write_json(stream, data) -> None:
    """One JSON document on `stream` (the real standard output, for --json)."""
    stream.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")
    stream.flush()


def _call(args) -> tuple[int, list[str] | None]:
    """Run the command: (exit code, None), or (exit code, the error's lines) once they are on standard error."""
    try:
        try:
            return args.command(args), None
        except Exception as exc:
            from pipeline.state.access import unwritable
            from pipeline.state.store import damaged, is_damage

            if hasattr(exc, "database") and (error := unwritable(exc.database, exc)) is not None:
                raise error from None  # the disk full, or a file this user may not write: which, and what to do
            if not is_damage(exc) or not hasattr(exc, "database"):
                raise
            raise damaged(exc.database, str(exc), "the command stopped where SQLite found it") from None
    except PipelineError as exc:
        _log_error(str(exc))
        errors = _console(stderr=True)
        for line in str(exc).splitlines():
            errors.print(f"[red]error:[/red] {_escape(line)}", soft_wrap=True)
        return exc.exit_code, str(exc).splitlines()
    except (KeyboardInterrupt, Stopped) as exc:
        code = exc.exit_code if isinstance(exc, Stopped) else 130
        name = exc.name if isinstance(exc, Stopped) else "Ctrl-C"
        message = (f"stopped by {name}: workers ended, and what was saved stays saved; a send's batches already "
                   f"handed over settle before the state folder is unlocked, or, when their delivery does not "
                   f"return, are left in flight for the next run to settle (exit {code})"
                   if getattr(args, "stops_a_run", False) else f"stopped by {name} (exit {code})")
        _log_error(message)
        _console(stderr=True).print(message, soft_wrap=True)
        return code, [message]
    except BaseException as exc:  # a bug, ours or a plugin's (`sys.exit("...")` too): one line, traceback on request
        if isinstance(exc, SystemExit) and (exc.code is None or isinstance(exc.code, int)):  # (a bool too)
            raise  # only an exit code (uvicorn's, having said why), which Python prints nothing of
        from pipeline.redact import redact_text

        message = redact_text(f"unexpected {type(exc).__name__}: {exception_text(exc)}")
        if os.environ.get(DEBUG_ENV):  # masked, as every line is (Python's own would print it as it stands)
            from pipeline.logs import traceback_text

            _log_error(message, exc)
            print(traceback_text(exc), file=sys.stderr)
            return 1, [message]
        _log_error(message)
        _console(stderr=True).print(f"[red]error:[/red] {_escape(message)} "
                                    f"(set {DEBUG_ENV}=1 to see the traceback)", soft_wrap=True)
        return 1, [message]


# Commands whose modules are imported only when they are the one asked for.
LATER_COMMANDS = {
    "subscribers": ("pipeline.commands.subscribers", "list, add, remove, import and export subscribers"),
    "serve": ("pipeline.commands.serve", "run the web app where people subscribe, confirm, choose themes and leave"),
    "plugin": ("pipeline.commands.plugin", "write a new plugin package to start from: plugin new NAME --kind KIND"),
    "backup": ("pipeline.commands.backup", "copy the state database to a file and check the copy; safe while in use"),
    "init": ("pipeline.commands.init", "write a new project to start from: a commented pipeline.toml and empty "
                                       "content folders"),
}


def _parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pipeline", description="Newsletter, RSS feed and archive from many sources.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--config", "-c", type=Path, dest="config_before", metavar="CONFIG",
                        help="the configuration file (default: ./pipeline.toml); before or after the command")
    _output_options(parser, "_before")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    def command(name: str, handler, help: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help, description=help)
        sub.add_argument("--config", "-c", type=Path, default=None,
                         help="the configuration file (default: ./pipeline.toml)")
        _output_options(sub, "")
        sub.set_defaults(command=handler)
        return sub

    def with_json(sub: argparse.ArgumentParser) -> argparse.ArgumentParser:
        sub.add_argument("--json", action="store_true",
                         help="print one JSON document on standard output, and nothing else there")
        return sub

    run_cmd = with_json(command("run", cmd_run, "run every stage and make the edition for a date"))
    run_cmd.add_argument("--as-of", type=_date, metavar="YYYY-MM-DD",
                         help="the edition date; the run then behaves as at midnight that day "
                              "(default: the latest newsletter day, by the clock)")
    run_cmd.add_argument("--dry-run", action="store_true",
                         help="fetch, transform and write files, but store no new issue and send nothing")
    refresh = with_json(command("refresh", cmd_refresh,
                                "fetch sources and update the feed and archive; no new edition"))
    refresh.add_argument("--as-of", type=_date, metavar="YYYY-MM-DD", help="behave as on this day")
    with_json(command("check", cmd_check, "validate pipeline.toml and the plugins; fetch and write nothing"))
    with_json(command("plugins", cmd_plugins, "list plugins, their components and where they come from"))
    status = with_json(command("status", cmd_status, "the last runs, each source's health, the next scheduled "
                                                     "times and the latest issue's deliveries; reads only"))
    status.add_argument("--runs", type=_runs, default=10, metavar="N", help="how many runs to show (default: 10)")
    preview = command("preview", cmd_preview, "render the issue (HTML and text) without sending or recording it")
    preview.add_argument("--as-of", type=_date, metavar="YYYY-MM-DD", help="the issue date (default: the latest)")
    test = command("send-test", cmd_send_test, "send the issue to one address, marked [TEST]; nothing recorded")
    whom = test.add_mutually_exclusive_group(required=True)
    whom.add_argument("--to", metavar="ADDRESS", help="where to send the test")
    whom.add_argument("--alerts", action="store_true",
                      help="instead, a test alert to each address in [alerts] to, through the alerts' delivery")
    test.add_argument("--as-of", type=_date, metavar="YYYY-MM-DD", help="the issue date (default: the latest)")
    sent = command("deliveries", cmd_deliveries, "per issue: how many sent, in flight, unknown and failed")
    sent.add_argument("--issue", type=int, metavar="N", help="one issue, with the recipients not yet sent")
    sent.add_argument("--resend", choices=("unknown", "failed", "all"),
                      help="send the latest issue again to these (--issue, if given, must be it); "
                           "unknown ones may get two copies")
    explain = command("explain", cmd_explain, "why an item has its themes (the evidence) and its summary")
    explain.add_argument("item", metavar="ITEM-ID-OR-URL", help="the item's id or its link")
    sched = command("schedule", cmd_schedule, "run the monthly edition and the regular refresh on a schedule")
    sched.add_argument("--list", action="store_true", help="print the next run times and exit")
    for running in (run_cmd, refresh, test, sent, sched):  # what a signal stops mid-run: workers, a send's batches
        running.set_defaults(stops_a_run=True)
    asked = _command_name(argv or [])
    for name, (module, description) in LATER_COMMANDS.items():
        if name == asked:  # the command asked for: its own parser, with every option
            importlib.import_module(module).register(command)
        else:  # listed in --help without importing what it needs
            command(name, _later(module, "main"), description)
    return parser


def _output_options(parser: argparse.ArgumentParser, suffix: str, suppress: bool = False) -> None:
    """-v, -q and --log-file: on the main parser (dest with `suffix`) and on each command's; with `suppress`, one
    not given sets nothing (an action's, which would otherwise undo what was given before it)."""
    loudness = parser.add_mutually_exclusive_group()
    unset = {"default": argparse.SUPPRESS} if suppress else {}
    loudness.add_argument("--verbose", "-v", action="count", dest=f"verbose{suffix}", **(unset or {"default": 0}),
                          help="say what the pipeline is doing on standard error (-vv: in detail)")
    loudness.add_argument("--quiet", "-q", action="store_true", dest=f"quiet{suffix}", **unset,
                          help="errors only: no progress bar, and the run table only when something went wrong")
    parser.add_argument("--log-file", type=Path, dest=f"log_file{suffix}", metavar="PATH", **unset,
                        help="also append every message, with its time, to this file (or set PIPELINE_LOG_FILE)")


def action_options(parser: argparse.ArgumentParser) -> None:
    """--config, -v, -q and --log-file on an action of a command (`subscribers list`, `plugin new`), so that they
    may come after it too, as after any command; one not given there leaves what was given before it."""
    parser.add_argument("--config", "-c", type=Path, default=argparse.SUPPRESS,
                        help="the configuration file (default: ./pipeline.toml)")
    _output_options(parser, "_action", suppress=True)


def _command_name(argv: list[str]) -> str | None:
    """The command in `argv`: its first word that is neither an option nor the value of --config."""
    words = iter(argv)
    for word in words:
        if word in ("--config", "-c", "--log-file"):
            next(words, None)
        elif not word.startswith("-"):
            return word
    return None


def _suggest(parser: argparse.ArgumentParser, argv: list[str]) -> None:
    """A mistyped command gets "did you mean …?" (exit 2, as argparse's own errors)."""
    asked = _command_name(argv)
    choices = next(a.choices for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    if asked is not None and asked not in choices:
        close = difflib.get_close_matches(asked, list(choices), n=1, cutoff=0.6)
        hint = f"; did you mean `pipeline {close[0]}`?" if close else f"; the commands are: {', '.join(choices)}"
        parser.error(f"unknown command {asked!r}{hint}")


def _date(text: str) -> date:
    try:
        given = date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2016-02-01") from None
    if not 1900 <= given.year <= 9998:  # an issue's window reaches into the month before and after
        raise argparse.ArgumentTypeError(f"{text!r} is not a date from 1900 to 9998")
    return given


def _runs(text: str) -> int:
    """`--runs N`: how many runs `status` shows, 1 or more."""
    number = int(text) if text.strip().lstrip("+").isdigit() else 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of runs (1 or more)")
    return number


def cmd_preview(args) -> int:
    from pipeline.commands import mail
    return mail.preview(args.config, args.as_of, _console())


def cmd_send_test(args) -> int:
    from pipeline.commands import mail
    if args.alerts:
        return mail.send_test_alert(args.config, _console())
    return mail.send_test(args.config, args.to, args.as_of, _console())


def cmd_explain(args) -> int:
    from pipeline.commands.explain import explain
    return explain(args.config, args.item, _console())


def cmd_deliveries(args) -> int:
    from pipeline.commands import mail
    return mail.deliveries(args.config, args.issue, args.resend, _console())





if __name__ == "__main__":
    sys.exit(main())
