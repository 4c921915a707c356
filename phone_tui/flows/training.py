"""Training: a trainee's score on a flow, their saved progress, and reports across trainees.

The score starts at 100: each hint costs 10, each mistake 20 (a mistake is an event a step
names under `mistake`, such as unlocking the open OS to read a secure message), and time
beyond 60 s a step costs 1 point per 10 s. It never goes below 0. A flow not finished scores 0.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from phone_tui.core.atomic import atomic_write
from phone_tui.core.documents import is_int, is_number, read_json
from phone_tui.core.paths import ensure_private_dir
from phone_tui.errors import ConfigError

if TYPE_CHECKING:
    from phone_tui.flows.model import Flow

HINT_COST, MISTAKE_COST = 10, 20
STEP_ALLOWANCE, SECONDS_PER_POINT = 60.0, 10.0
FORMATS = ("table", "csv", "md")
TRAINEE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def pins_needed(flow: Flow) -> tuple[str, ...]:
    """The OSes (``"secure"``, ``"open"``) whose PIN the trainee unlocks phone 1 with, in the
    order the flow needs them, so the coach can say each PIN before a hint must. Follows the OS
    through the steps: an expected ``PersonaSwitched`` changes it. A flow that starts at the
    first run needs none (the trainee chooses the PIN); a ``mistake`` unlock is no need."""
    if flow.start == "setup":
        return ()
    running, needed = flow.persona, []
    for step in flow.steps:
        unlocks = [e.where.get("persona", running) for e in step.expect
                   if e.phone == 1 and e.event == "Unlocked"]
        switched = [e.where.get("persona") for e in step.expect
                    if e.phone == 1 and e.event == "PersonaSwitched"]
        if not unlocks and any(a.kind == "unlock" and a.phone == 1 for a in step.solution):
            # Unlocked as part of the step's work: after the step's switch, if any.
            unlocks = [next((p for p in switched if p), running)]
        needed += [p for p in unlocks if p not in needed]
        running = next((p for p in switched if p), running)
    return tuple(needed)


class ProgressError(ConfigError):
    """A progress file that cannot be read (it is left as it is)."""


@dataclass
class Score:
    """What one attempt at a training flow earned."""

    flow: str
    title: str
    steps: int
    steps_done: int = 0
    seconds: float = 0.0
    hints: int = 0
    mistakes: list[str] = field(default_factory=list)
    finished: bool = False
    at: float = 0.0

    @property
    def points(self) -> int:
        if not self.finished:
            return 0
        overtime = max(0.0, self.seconds - STEP_ALLOWANCE * self.steps)
        return max(0, round(100 - HINT_COST * self.hints - MISTAKE_COST * len(self.mistakes)
                            - overtime / SECONDS_PER_POINT))


def check_trainee(name: str) -> str:
    if not TRAINEE.match(name):
        raise ProgressError(Path(name), "a trainee name is 1–64 letters, digits, dots, dashes "
                                        "or underscores")
    return name


class Progress:
    """A trainee's attempts, kept in DATA/training/NAME.json (0600, written atomically)."""

    def __init__(self, folder: Path, trainee: str) -> None:
        self.folder = folder
        self.trainee = check_trainee(trainee)
        self.path = folder / f"{trainee}.json"

    def attempts(self) -> list[Score]:
        """The saved attempts; ProgressError (naming the file and key) if any value is off."""
        try:
            raw = read_json(self.path, ProgressError, LEFT_AS_IT_IS)
        except FileNotFoundError:
            return []
        entries = raw.get("attempts")
        if not isinstance(entries, list):
            raise ProgressError(self.path, f"expected a list of attempts; {LEFT_AS_IT_IS}",
                                key="attempts")
        return [_score(self.path, f"attempts[{index}]", entry)
                for index, entry in enumerate(entries)]

    def record(self, score: Score) -> None:
        attempts = self.attempts()  # refuses (and keeps) a damaged file
        attempts.append(score)
        ensure_private_dir(self.folder)
        data = {"trainee": self.trainee, "attempts": [asdict(a) for a in attempts]}
        atomic_write(self.path, json.dumps(data, indent=1).encode())


LEFT_AS_IT_IS = "the progress file is damaged; it was left as it is"
# Each saved field: whether a value fits, and what was expected.
_FIELDS: dict[str, tuple[Callable[[object], bool], str]] = {
    "flow": (lambda v: isinstance(v, str) and bool(v), "a flow id"),
    "title": (lambda v: isinstance(v, str), "a string"),
    "steps": (lambda v: is_int(v, 0, 10_000), "a count of steps"),
    "steps_done": (lambda v: is_int(v, 0, 10_000), "a count of steps"),
    "seconds": (lambda v: is_number(v, 0, 1e9), "seconds (a number ≥ 0)"),
    "hints": (lambda v: is_int(v, 0, 10_000), "a count of hints"),
    "mistakes": (lambda v: isinstance(v, list) and all(isinstance(m, str) for m in v),
                 "a list of strings"),
    "finished": (lambda v: isinstance(v, bool), "true or false"),
    "at": (lambda v: is_number(v), "a time in seconds"),
}
_REQUIRED = ("flow", "title", "steps")


def _score(path: Path, where: str, entry: object) -> Score:
    if not isinstance(entry, dict):
        raise ProgressError(path, f"expected an object; {LEFT_AS_IT_IS}", key=where)
    for key, value in entry.items():
        if key not in _FIELDS:
            raise ProgressError(path, f"unknown key; {LEFT_AS_IT_IS}", key=f"{where}.{key}")
        fits, expected = _FIELDS[key]
        if not fits(value):
            raise ProgressError(path, f"expected {expected}; {LEFT_AS_IT_IS}",
                                key=f"{where}.{key}")
    for key in _REQUIRED:
        if key not in entry:
            raise ProgressError(path, f"missing; {LEFT_AS_IT_IS}", key=f"{where}.{key}")
    return Score(**{**entry, "mistakes": list(entry.get("mistakes", []))})


def all_progress(folder: Path) -> dict[str, list[Score]]:
    """Every trainee's attempts, by name."""
    if not folder.exists():
        return {}
    return {path.stem: Progress(folder, path.stem).attempts()
            for path in sorted(folder.glob("*.json"))}


def report(folder: Path, fmt: str = "table") -> str:
    """One row per trainee and flow: attempts, best score, last result."""
    if fmt not in FORMATS:
        raise ProgressError(folder, f"unknown report format {fmt!r} (known: "
                                    f"{', '.join(FORMATS)})")
    rows = []
    for trainee, attempts in all_progress(folder).items():
        by_flow: dict[str, list[Score]] = {}
        for attempt in attempts:
            by_flow.setdefault(attempt.flow, []).append(attempt)
        for flow, tries in sorted(by_flow.items()):
            last = tries[-1]
            rows.append([trainee, flow, str(len(tries)), str(max(t.points for t in tries)),
                         "passed" if last.finished else f"stopped at step {last.steps_done + 1}",
                         f"{last.seconds:.0f}", str(last.hints), str(len(last.mistakes))])
    header = ["trainee", "flow", "attempts", "best", "last", "seconds", "hints", "mistakes"]
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
        return out.getvalue()
    if fmt == "md":
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        return "\n".join(lines) + "\n"
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    if not rows:
        lines.append("(no training results yet)")
    return "\n".join(line.rstrip() for line in lines) + "\n"
