"""Command line: parse arguments, turn errors into one line on stderr and exit code 2."""

from __future__ import annotations

import argparse
import contextlib
import copy
import gc
import os
import signal
import sys
import tempfile
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import phone_tui
from phone_tui.core.config import LOG_LEVELS, PERSONAS, Settings, load_settings, with_changes
from phone_tui.core.paths import HOME_ENV, Paths, resolve_paths
from phone_tui.core.words import count
from phone_tui.errors import PhoneTuiError, UsageError

if TYPE_CHECKING:
    from phone_tui.media.audio import CallAudio
    from phone_tui.ui.app import PhoneApp

PROG = "phone-tui"


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"{PROG}: error: {message} (see '{self.prog} --help')\n")
        raise SystemExit(2)


COMMANDS = frozenset({"paths", "reset", "demo", "serve", "train", "screenshots", "flow"})


class _TopParser(_Parser):
    """The top level, whose subcommands are made only when needed: a plain ``phone-tui`` runs
    none of them, and making their parsers was about 12 M instructions of every start-up
    (benchmarks/startup.py). Arguments that name a command, ask for help, or are not the top
    level's own get the full parser, so every message is the one it gives."""

    add_commands: Callable[[], None] | None = None

    def commands(self) -> None:
        if self.add_commands is not None:
            add, self.add_commands = self.add_commands, None
            add()

    def parse_known_args(self, args=None, namespace=None):  # noqa: ANN001, ANN201
        if self.add_commands is not None:
            args = sys.argv[1:] if args is None else list(args)
            if COMMANDS.isdisjoint(args) and "-h" not in args and "--help" not in args:
                parsed, extras = super().parse_known_args(list(args), copy.copy(namespace))
                if not extras:
                    return parsed, extras
            self.commands()
        return super().parse_known_args(args, namespace)

    def format_help(self) -> str:
        self.commands()
        return super().format_help()

    def format_usage(self) -> str:
        self.commands()
        return super().format_usage()


def parser() -> _Parser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data-dir", metavar="DIR", default=argparse.SUPPRESS,
                        help=f"keep settings, keystores and logs under DIR (default: "
                             f"${HOME_ENV}, else the platform's folders)")

    parser = _TopParser(prog=PROG, parents=[common],
                        description="A secure government handset, emulated in your terminal.")
    parser.add_argument("--version", action="version", version=f"{PROG} {phone_tui.__version__}")
    parser.add_argument("--theme", metavar="NAME",
                        help="colour theme for this run (secure, open, high-contrast, or one of "
                             "yours)")
    parser.add_argument("--persona", choices=PERSONAS,
                        help="which OS to boot (default: the one that ran last; secure at "
                             "the first run)")
    parser.add_argument("--deterministic", action="store_true",
                        help="fixed clock, seeds and key material for screenshots and tests; "
                             "NOT SECURE (uses a throw-away data folder unless --data-dir is "
                             "given)")
    parser.add_argument("--log-level", choices=LOG_LEVELS, help="log detail (default: warning)")
    parser.add_argument("--record", metavar="DIR", type=Path,
                        help="save what this phone hears on each call as a WAV file in DIR "
                             "(made if missing, readable only by you)")
    parser.set_defaults(command=None)
    parser.add_commands = partial(_add_commands, parser, common)
    return parser


def _add_commands(parser: _Parser, common: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.add_parser("paths", parents=[common], help="print where settings, data, logs and "
                                                   "themes live")
    reset = sub.add_parser("reset", parents=[common],
                           help="wipe local data (keystores, stores, logs); keeps settings.toml")
    reset.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    demo = sub.add_parser("demo", parents=[common],
                          help="the demo stage: 2–4 handsets on one network with the operator "
                               "tap and presenter controls")
    demo.add_argument("--handsets", type=int, default=2, choices=range(2, 5), metavar="2..4",
                      help="how many phones (default 2)")
    demo.add_argument("--profile", metavar="NAME",
                      help="link profile for every phone at the start (default: each phone's "
                           "own, lte)")
    demo.add_argument("--fresh", action="store_true",
                      help="start over: delete the demo phones and set them up again")
    demo.add_argument("--script", metavar="FLOW",
                      help="play a flow step by step on the stage (a file or a shipped id): "
                           "space or a click for the next step, backspace to go back")
    demo.add_argument("--auto", metavar="SECONDS", type=float,
                      help="with --script: play the next step this long after one finishes")
    demo.add_argument("--intercept-log", metavar="FILE", type=Path,
                      help="append each lawful-intercept record as a JSON line to FILE (made "
                           "0600; an existing file phone-tui did not make is refused)")
    demo.add_argument("--theme", metavar="NAME", default=argparse.SUPPRESS,
                      help="colour theme of the stage")
    demo.add_argument("--deterministic", action="store_true", default=argparse.SUPPRESS,
                      help="fixed clock, seeds and keys; NOT SECURE")
    demo.add_argument("--record", metavar="DIR", type=Path, default=argparse.SUPPRESS,
                      help="save what each phone hears on each call as a WAV file in DIR")
    serve = sub.add_parser("serve", parents=[common],
                           help="serve phone-tui in a web browser (textual-serve)")
    serve.add_argument("--demo", action="store_true", help="serve the demo stage instead of "
                                                          "one handset")
    serve.add_argument("--handsets", type=int, default=2, choices=range(2, 5), metavar="2..4",
                       help="with --demo: how many phones (default 2)")
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to listen on (default 127.0.0.1: this machine only)")
    serve.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    serve.add_argument("--deterministic", action="store_true", default=argparse.SUPPRESS,
                       help="serve the deterministic (NOT SECURE) mode")
    train = sub.add_parser("train", parents=[common],
                           help="training: list the scenarios, run one with a coach, or report")
    train.add_argument("flow", nargs="?", metavar="FLOW",
                       help="a training flow (file or id); without it, list them")
    train.add_argument("--trainee", default="trainee", metavar="NAME",
                       help="whose progress to save (default: trainee)")
    train.add_argument("--report", action="store_true", help="print every trainee's results")
    train.add_argument("--format", choices=("table", "csv", "md"), default="table",
                       help="with --report (default: table)")
    shots = sub.add_parser("screenshots", help="render every main view (deterministic) as SVG "
                           "and, through headless Chromium, as PNG")
    shots.add_argument("--out", metavar="DIR", type=Path, default=Path("screenshots"),
                       help="where to write NAME.svg and NAME.png (default: screenshots/)")
    shots.add_argument("--svg-only", action="store_true",
                       help="write the SVGs only (no Chromium needed)")
    flow = sub.add_parser("flow", help="check or run flows (demo scripts, training, snapshot "
                                        "checks)")
    flow_sub = flow.add_subparsers(dest="flow_command", metavar="ACTION", required=True,
                                   parser_class=_Parser)
    check = flow_sub.add_parser("check", help="validate flow files without running them")
    check.add_argument("files", nargs="+", metavar="FILE")
    run = flow_sub.add_parser("run", help="run a flow headless in deterministic mode")
    run.add_argument("flow", metavar="FLOW", help="a flow file, or the id of a shipped flow")
    run.add_argument("--snapshots", metavar="DIR", type=Path,
                     help="write step-NN.svg (and step-NN.txt) after each step")
    run.add_argument("--check", metavar="BASELINE_DIR", type=Path,
                     help="compare each step with BASELINE_DIR/step-NN.svg; exit 1 listing the "
                          "steps that differ (a text diff goes to --snapshots/report.txt)")


LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def main(argv: Sequence[str] | None = None) -> int:
    try:
        code = _main(argv)
        sys.stdout.flush()  # a reader that went away shows here, not as a warning at exit
    except BrokenPipeError:
        # `phone-tui train | head -3`: the reader has what it wanted. Stop quietly, as cat
        # does; output still buffered goes to /dev/null so the exit flush cannot fail again.
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        return 128 + signal.SIGPIPE
    return code


def _main(argv: Sequence[str] | None) -> int:
    args = parser().parse_args(argv)
    try:
        if getattr(args, "record", None) is not None and args.command not in (None, "demo"):
            raise UsageError(f"--record goes with phone-tui or phone-tui demo, not "
                             f"{args.command}")
        if args.command == "paths":
            return _paths(resolve_paths(getattr(args, "data_dir", None)))
        if args.command == "reset":
            return _reset(resolve_paths(getattr(args, "data_dir", None)), args.yes)
        if args.command == "demo":
            return _run(args, demo=True)
        if args.command == "serve":
            return _serve(args)
        if args.command == "flow":
            return _flow(args)
        if args.command == "screenshots":
            return _screenshots(args.out, svg_only=args.svg_only)
        if args.command == "train":
            return _train(args)
        return _run(args)
    except PhoneTuiError as problem:
        sys.stderr.write(f"{PROG}: error: {problem}\n")
        return 2
    except KeyboardInterrupt:
        return 130


def _paths(paths: Paths) -> int:
    from phone_tui.core.resources import themes_dir

    rows = [
        ("settings", paths.settings_file),
        ("config", paths.config_dir),
        ("data", paths.data_dir),
        ("logs", paths.log_file),
        ("themes", paths.user_themes_dir),
        ("built-in themes", themes_dir()),
    ]
    for name, path in rows:
        print(f"{name:<16}{path}")
    return 0


def _reset(paths: Paths, yes: bool) -> int:
    """Delete what phone-tui made under the data and log folders (core/inventory.py says what
    that is); anything else there is listed and kept."""
    from phone_tui.core.inventory import data_patterns, log_patterns, scan

    found = [scan(paths.data_dir, data_patterns()), scan(paths.log_dir, log_patterns())]
    files = [path for inventory in found for path in inventory.files]
    folders = [path for inventory in found if inventory.root.is_dir()
               for path in (*inventory.folders, inventory.root)]
    foreign = [path for inventory in found for path in inventory.foreign]
    if not files and all(inventory.foreign for inventory in found if inventory.root.is_dir()):
        print(f"Nothing to reset: phone-tui has no data in {paths.data_dir} or "
              f"{paths.log_dir}.")
        _print_kept(foreign)
        return 0
    if not yes:
        if not sys.stdin.isatty():
            raise UsageError("reset needs --yes when not run from a terminal; nothing was "
                             "deleted")
        print("This permanently deletes every persona (keystores, PINs, messages) and the logs:")
        for line in _by_folder(files, folders):
            print(f"  {line}")
        _print_kept(foreign)
        answer = input("Type 'yes' to wipe: ").strip().lower()
        if answer != "yes":
            print("Cancelled; nothing was deleted.")
            return 1
    for inventory in found:
        inventory.delete()
    print(f"Wiped {len(files)} file{'s' if len(files) != 1 else ''} phone-tui made in "
          f"{paths.data_dir} and {paths.log_dir}. {paths.settings_file} was kept.")
    _print_kept(foreign)
    return 0


def _by_folder(files: list[Path], folders: list[Path]) -> list[str]:
    """``folder/: name, name`` per folder holding files, then the (empty) folders left."""
    named: dict[Path, list[str]] = {}
    for path in files:
        named.setdefault(path.parent, []).append(path.name)
    return [*(f"{folder}/: {', '.join(names)}" for folder, names in named.items()),
            *(f"{folder}/" for folder in sorted(folders)
              if not any(holder.is_relative_to(folder) for holder in named))]


def _print_kept(foreign: list[Path]) -> None:
    """Whatever phone-tui did not make stays where it is, and is named."""
    for path in foreign:
        print(f"kept: {path}{'/' if path.is_dir() and not path.is_symlink() else ''}")


def _run(args: argparse.Namespace, *, demo: bool = False) -> int:
    data_dir = getattr(args, "data_dir", None)
    scratch: tempfile.TemporaryDirectory[str] | None = None
    if args.deterministic and data_dir is None:
        scratch = tempfile.TemporaryDirectory(prefix="phone-tui-deterministic-")
        data_dir = scratch.name
    try:
        from phone_tui.core.instance import DEMO_LOCK_NAME, LOCK_NAME, only_instance

        with only_instance(resolve_paths(data_dir).data_dir,
                           DEMO_LOCK_NAME if demo else LOCK_NAME):
            return _run_app(args, data_dir, demo=demo)
    finally:
        if scratch is not None:
            scratch.cleanup()


def _run_app(args: argparse.Namespace, data_dir: str | None, *, demo: bool) -> int:
    if demo:
        stage_app = build_stage(args, data_dir)
        try:
            stage_app.run()
        finally:
            if stage_app.intercept_log is not None:
                stage_app.intercept_log.close()
        for handset in stage_app.stage.handsets:
            handset.lock("quit")
        stage_app.stage.close()
        return 0
    app = build_app(args, data_dir)
    app.run()
    app.handset.lock("quit")
    app.close_network()
    return 0


def find_flow(name: str, *, prefix: str = "", what: str = "flow") -> Path:
    """A flow file by path, or a shipped one by id (seeds/flows/ID.toml); the ids offered when
    none matches are those starting with ``prefix`` (train- for training)."""
    from phone_tui.flows.model import shipped_flows

    path = Path(name)
    if path.suffix == ".toml" or path.is_file():
        return path
    for shipped in shipped_flows():
        if shipped.stem == name:
            return shipped
    known = ", ".join(p.stem for p in shipped_flows() if p.stem.startswith(prefix))
    raise UsageError(f"no {what} {name!r}: give a .toml file or a shipped {what} ({known})")


def _flow(args: argparse.Namespace) -> int:
    from phone_tui.flows.model import FlowError, load_flow

    if args.flow_command == "check":
        failed = 0
        for name in args.files:
            try:
                flow = load_flow(find_flow(name))
            except FlowError as problem:  # every mistake in the file, one line each
                for each in problem.problems:
                    sys.stderr.write(f"{PROG}: error: {each.located()}\n")
                failed += 1
            except PhoneTuiError as problem:
                sys.stderr.write(f"{PROG}: error: {problem}\n")
                failed += 1
            else:
                print(f"ok  {flow.path}  ({flow.id}: {count(len(flow.steps), 'step')}, "
                      f"{flow.audience})")
        return 2 if failed else 0
    flow = load_flow(find_flow(args.flow))
    check = args.check
    if check is not None and not (check.is_dir() and any(check.glob("step-*.svg"))):
        raise UsageError(f"--check {check}: " + (
            "no such folder" if not check.exists() else "not a folder" if not check.is_dir()
            else "holds no step-NN.svg (make them with --snapshots)"))
    import asyncio

    from phone_tui.ui.flow_runner import run_flow

    def show(result) -> None:  # noqa: ANN001
        mark = "✓" if result.passed else "✗"
        print(f"{mark} step {result.step.number}: {result.step.say}", flush=True)
        for missing in result.missing:
            print(f"    waited {result.step.timeout:g} s for {missing}", flush=True)

    with tempfile.TemporaryDirectory(prefix="phone-tui-flow-") as scratch:
        report = asyncio.run(run_flow(flow, Path(scratch), snapshots=args.snapshots,
                                      check=args.check, on_step=show))
    if args.snapshots is not None:
        print(f"snapshots in {args.snapshots}")
    if report.differing:
        steps = ", ".join(str(n) for n in report.differing)
        print(f"differs from {args.check}: step(s) {steps}"
              + (f" (see {args.snapshots / 'report.txt'})" if args.snapshots else ""))
    passed = all(result.passed for result in report.results) and \
        len(report.results) == len(flow.steps)
    print(f"{flow.id}: {'passed' if passed else 'FAILED'}"
          + ("" if not report.differing else ", screens differ"))
    return 0 if passed and not report.differing else 1


def _train(args: argparse.Namespace) -> int:
    from phone_tui.flows.model import load_flow, shipped_flows
    from phone_tui.flows.training import Progress, check_trainee, report

    paths = resolve_paths(getattr(args, "data_dir", None))
    folder = paths.data_dir / "training"
    if args.report:
        if args.flow is not None:
            raise UsageError(f"--report prints every trainee's results: no FLOW with it "
                             f"(got {args.flow!r})")
        sys.stdout.write(report(folder, args.format))
        return 0
    if args.format != "table":
        raise UsageError("--format goes with --report")
    check_trainee(args.trainee)
    if args.flow is None:
        best: dict[str, int] = {}
        for score in Progress(folder, args.trainee).attempts():
            best[score.flow] = max(best.get(score.flow, 0), score.points)
        print(f'Training scenarios for trainee "{args.trainee}" '
              f"(phone-tui train ID --trainee NAME):")
        for flow in map(load_flow, shipped_flows()):
            if flow.audience == "training":
                mark = f"best {best[flow.id]}/100" if flow.id in best else "not done yet"
                print(f"  {flow.id:<28} {count(len(flow.steps), 'step'):<9} {mark:<14} "
                      f"{flow.title}")
        return 0
    flow = load_flow(find_flow(args.flow, prefix="train-", what="training flow"))
    Progress(folder, args.trainee).attempts()  # a damaged progress file stops us here, kept
    if flow.audience != "training" or flow.handsets != 1:
        raise UsageError(f"{flow.path}: not a training flow (audience = \"training\", one "
                         "handset)")
    import asyncio

    from phone_tui.ui.flow_runner import FlowDriver
    from phone_tui.ui.widgets.coach import CoachPanel

    coach = CoachPanel(flow, Progress(folder, args.trainee))
    with tempfile.TemporaryDirectory(prefix="phone-tui-training-") as scratch:
        driver = FlowDriver(flow, Path(scratch), deterministic=False, side=coach)
        asyncio.run(driver.prepare_phones())
        driver.listen()
        driver.on_ready.append(lambda: coach.attach(driver))
        driver.app.run()
        coach.save()
    score = coach.score
    print(f"{flow.title}: {score.points}/100 ({'finished' if score.finished else 'stopped'}, "
          f"{score.seconds:.0f} s, {count(score.hints, 'hint')}, "
          f"{count(len(score.mistakes), 'mistake')})")
    return 0


def _screenshots(out: Path, *, svg_only: bool = False) -> int:
    """Play the shipped flows whose steps name a `shot`, saving those steps as SVG, then (unless
    ``svg_only``) each SVG as PNG through headless Chromium."""
    import asyncio

    from phone_tui.errors import PngError
    from phone_tui.flows.model import load_flow, shipped_flows
    from phone_tui.ui import png
    from phone_tui.ui.flow_runner import run_flow

    flows = [flow for flow in map(load_flow, shipped_flows())
             if any(step.shot for step in flow.steps)]
    written: list[Path] = []
    for flow in flows:
        with tempfile.TemporaryDirectory(prefix="phone-tui-shots-") as scratch:
            report = asyncio.run(run_flow(flow, Path(scratch), shots=out))
        failed = [r for r in report.results if not r.passed]
        if failed:
            step = failed[0]
            raise UsageError(f"{flow.path}: step {step.step.number} did not get there "
                             f"({'; '.join(step.missing)}); screenshots after it not written")
        written += [path for path in report.written if path.suffix == ".svg"]
    for path in written:
        print(path)
    if svg_only:
        return 0
    browser = png.find_browser()
    if browser is None:
        raise PngError(png.missing_browser_message())
    for path in png.render_pngs(written, browser):
        print(path)
    return 0


def serve_command(args: argparse.Namespace) -> str:
    """The command textual-serve runs for each browser session (this Python, this package)."""
    import shlex

    parts = [sys.executable, "-m", "phone_tui"]
    data_dir = getattr(args, "data_dir", None)
    if data_dir is not None:
        parts += ["--data-dir", str(Path(data_dir).resolve())]
    if args.deterministic:
        parts.append("--deterministic")
    if args.demo:
        parts += ["demo", "--handsets", str(args.handsets)]
    return shlex.join(parts)


def _serve(args: argparse.Namespace) -> int:
    if not 0 < args.port < 65536:
        raise UsageError(f"--port must be 1 to 65535, not {args.port}")
    try:
        from phone_tui.ui.serve import TokenServer
    except ImportError:
        raise UsageError("serving needs textual-serve: pip install textual-serve") from None
    if args.host not in LOCAL_HOSTS:
        sys.stderr.write(
            f"{PROG}: warning: listening on {args.host}, not only on this machine: anyone who "
            "can reach it and gets the token can open the emulator (and, with --demo, see the "
            "demo PINs); the token travels unencrypted. Use --host 127.0.0.1 unless you mean "
            "it.\n")
    server = TokenServer(serve_command(args), host=args.host, port=args.port,
                         title="phone-tui demo" if args.demo else "phone-tui")
    # The only place the token is shown: whoever started serve opens this URL.
    print(f"Serving phone-tui at {server.url} (only this URL opens it; Ctrl+C stops)",
          flush=True)
    server.serve()
    return 0


def build_stage(args: argparse.Namespace, data_dir: str | None):  # noqa: ANN201 - StageApp
    """``phone-tui demo`` before its first frame: the stage folder, the phones (set up with
    their demo PINs on first use), the network. Raises PhoneTuiError on bad input."""
    import asyncio
    import random

    from phone_tui.core.clock import DeterministicClock, SystemClock
    from phone_tui.core.logs import setup_logging
    from phone_tui.handset.device import load_device
    from phone_tui.handset.handset import HandsetState
    from phone_tui.handset.stage import Stage, load_stage_seeds, remove_stage
    from phone_tui.modem.bus import Bus
    from phone_tui.modem.profiles import load_profiles
    from phone_tui.ui.stage_app import StageApp

    paths = resolve_paths(data_dir)
    settings = _settings(paths, args)
    themes = _themes(paths, args.theme)
    profiles = load_profiles(settings.profiles, paths.settings_file)
    from phone_tui.modem.cells import load_cells

    load_cells(profiles=tuple(profiles))  # seeds/cells.toml: a mistake stops the stage here
    if args.profile is not None and args.profile not in profiles:
        raise UsageError(f"unknown link profile {args.profile!r} (known: "
                         f"{', '.join(profiles)})")
    flow = None
    if getattr(args, "script", None):
        from phone_tui.flows.model import load_flow

        flow = load_flow(find_flow(args.script))
        args.handsets = max(args.handsets, flow.handsets)
        if args.profile is None and flow.profile in profiles:
            args.profile = flow.profile
    if getattr(args, "auto", None) is not None and (flow is None or not 0 < args.auto <= 600):
        raise UsageError("--auto needs --script and a number of seconds from 0 to 600")
    intercept_log = None
    if getattr(args, "intercept_log", None) is not None:  # checked before the slow set-up
        from phone_tui.modem.intercept_log import InterceptLog

        if not str(args.intercept_log).strip() or args.intercept_log.is_dir():
            raise UsageError(f"--intercept-log {args.intercept_log}: needs a file name")
        intercept_log = InterceptLog(args.intercept_log)
    # (A later mistake exits with the file open, made and empty: ours, appended to next.)
    root = paths.data_dir / "demo"
    if args.fresh:
        remove_stage(root)
    stage = Stage(root, args.handsets, clock=DeterministicClock() if args.deterministic
                  else SystemClock(), device=load_device(), seeds=load_stage_seeds(),
                  deterministic=args.deterministic, profile=args.profile)
    stage.set_audio(_call_audio(args))
    for handset in stage.handsets:
        _check_phone_files(handset)
    if any(h.state_of(name) is HandsetState.SETUP for h in stage.handsets
           for name in h.personas):
        sys.stderr.write(f"Setting up {args.handsets} demo phones in {root} "
                         "(first run, a few seconds)…\n")
    asyncio.run(stage.prepare())
    setup_logging(paths.log_file, settings.log_level)
    # The intercept records' times are the phones' clock's (09:41 in deterministic runs).
    network = Bus(random.Random(7) if args.deterministic else None, folder=stage.carrier_folder,
                  wall=stage.clock.now)
    script = None
    if flow is not None:
        from phone_tui.ui.widgets.script_panel import ScriptPanel

        script = ScriptPanel(flow, auto=args.auto)
    return StageApp(stage, themes=themes, theme=args.theme, profiles=profiles, network=network,
                    script=script, intercept_log=intercept_log)


def _call_audio(args: argparse.Namespace) -> CallAudio | None:
    """Real audio on calls, except in deterministic runs (it would make screens differ)
    unless --record asks for it; --record's folder is checked now: one line if it cannot be."""
    from phone_tui.media.audio import CallAudio, clip_path

    record = getattr(args, "record", None)
    if record is not None:
        if not str(record).strip() or str(record) == ".":
            raise UsageError("--record needs a folder (say --record ./recordings)")
        if record.exists() and not record.is_dir():
            raise UsageError(f"--record {record}: not a folder")
        try:
            record.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as problem:
            raise UsageError(f"--record {record}: {problem.strerror or problem}") from None
        import os

        info = record.stat()
        if info.st_uid != os.getuid() or info.st_mode & 0o022:
            # What was said on a call goes there: a folder others can write to could hold
            # names planted to catch it (and others could read it).
            raise UsageError(f"--record {record}: the folder must be yours and writable by you "
                             f"only (chmod 700 {record})")
        if not os.access(record, os.W_OK | os.X_OK):
            raise UsageError(f"--record {record}: cannot write there")
    if args.deterministic and record is None:
        return None
    # The emulator has no microphone: each phone "speaks" the shipped clip, so the other side
    # hears real encoded speech through the link (and its level meter moves).
    return CallAudio(voice=clip_path(), record=record)


def build_app(args: argparse.Namespace, data_dir: str | None) -> PhoneApp:
    """Everything ``phone-tui`` does before the first frame; raises PhoneTuiError on bad input."""
    # Importing Textual and phone-tui creates objects that live as long as the process: a
    # collection meanwhile finds no garbage and cost about 10 ms (60 collections) of start-up.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _build_app(args, data_dir)
    finally:
        # Everything imported so far lives as long as the process: keep the collector off it.
        gc.freeze()
        if collecting:
            gc.enable()


def _build_app(args: argparse.Namespace, data_dir: str | None) -> PhoneApp:
    from phone_tui.core.clock import DeterministicClock, SystemClock
    from phone_tui.core.entropy import DeterministicEntropy, SystemEntropy
    from phone_tui.core.logs import setup_logging
    from phone_tui.crypto.keystore import read_header
    from phone_tui.handset.device import load_device
    from phone_tui.handset.handset import Handset
    from phone_tui.ui.app import PhoneApp

    paths = resolve_paths(data_dir)
    settings = _settings(paths, args)
    themes = _themes(paths, args.theme)
    handset = Handset(
        paths, settings,
        clock=DeterministicClock() if args.deterministic else SystemClock(),
        entropy=DeterministicEntropy() if args.deterministic else SystemEntropy(),
        device=load_device())
    # Refuse to start on a damaged keystore or counter: say which file, touch nothing.
    if handset.persona.is_set_up:
        read_header(handset.persona.keystore_path, handset.persona.kdf.policy)
    handset.throttle_wait()
    _check_phone_files(handset)
    handset.audio = _call_audio(args)
    carrier = paths.data_dir / "network"
    _check_carrier(carrier)
    # The link profiles (shipped and your own [profiles]) are checked now: a mistake in either
    # stops the app before its first frame (about 2 ms), instead of when the phone registers.
    from phone_tui.modem.profiles import load_profiles

    profiles = load_profiles(settings.profiles, paths.settings_file)
    from phone_tui.modem.cells import load_cells

    load_cells(profiles=tuple(profiles))  # seeds/cells.toml: a mistake stops the app here too
    app = PhoneApp(handset, paths=paths, settings=settings, themes=themes, theme=args.theme,
                   profiles=profiles, carrier_folder=carrier,
                   when_ready=partial(setup_logging, paths.log_file, settings.log_level))
    return app


def _check_phone_files(handset) -> None:  # noqa: ANN001 - Handset
    """Read now the small files a phone reads later (its SIM lines, each OS's PIN counter and
    unlock policy): a damaged one stops the app before its first frame, named and untouched."""
    handset.line_number(handset.running)
    for persona in handset.personas.values():
        persona.throttle.load()
        persona.wipe_after(handset.settings.wipe_after_failures)


def _check_carrier(folder: Path) -> None:
    """Refuse to start on a damaged key directory, mailbox or SMS centre queue (the carrier
    reads them after the first frame): say which file, touch nothing."""
    from phone_tui.modem.directory import DIRECTORY_FILE, KeyDirectory
    from phone_tui.modem.mailbox import MAILBOX_FILE, load_mailboxes
    from phone_tui.modem.smsc import SMSC_FILE, check_smsc_file

    KeyDirectory(folder / DIRECTORY_FILE)
    load_mailboxes(folder / MAILBOX_FILE)
    check_smsc_file(folder / SMSC_FILE)


def _themes(paths: Paths, theme: str | None):  # noqa: ANN202 - ThemeCatalog
    """The shipped and the user's themes; ``--theme`` must name one of them."""
    from phone_tui.ui.themes import load_themes

    themes = load_themes(paths.user_themes_dir)
    if theme is not None and theme not in themes.themes:
        raise UsageError(f"unknown theme {theme!r} (known: {', '.join(sorted(themes.themes))})")
    return themes


def _settings(paths: Paths, args: argparse.Namespace) -> Settings:
    settings = load_settings(Path(paths.settings_file))
    changes = {}
    if args.persona:
        changes["persona"] = args.persona
    if args.log_level:
        changes["log_level"] = args.log_level
    return with_changes(settings, **changes) if changes else settings
