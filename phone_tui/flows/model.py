"""The flow format: one TOML language for demo scripts, training scenarios and snapshot checks.

A flow is metadata plus steps. Each step has ``say`` (what the person is told), optional ``do``
(actions on a phone or the network) and optional ``expect`` (domain events and/or text on a
phone, within ``timeout`` seconds). Everything is checked when the file is read: a mistake is
an error naming the file, the step and the key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from phone_tui.core.config import PERSONAS
from phone_tui.core.documents import decode_toml, is_number, read_text
from phone_tui.core.resources import seeds_dir
from phone_tui.errors import ConfigError

AUDIENCES = ("demo", "training", "test")
DEFAULT_TIMEOUT = 10.0
MAX_TIMEOUT = 600.0

# Each action: its value's kind, and what it does (the README's table is built from these).
ACTIONS: dict[str, tuple[str, str]] = {
    "press": ("keys", "press keys, e.g. \"f2\" or [\"down\", \"enter\"]"),
    "type": ("text", "type text into whatever has focus"),
    "unlock": ("bool", "type the phone's PIN (the demo PIN on a stage) and Enter"),
    "open": ("app", "open an app from the home screen: messages, network, settings, switch, "
                    "camera, maps"),
    "home": ("bool", "go back to the home screen"),
    "lock": ("bool", "lock the phone"),
    "switch_os": ("persona", "switch to the secure or open OS (confirmed, boot skipped)"),
    "profile": ("text", "emulate a link profile (on `phone`, or on every phone with all = true)"),
    "airplane": ("bool", "airplane mode on (true) or off (false)"),
    "signal": ("bool", "give the phone signal (true) or drop it (false)"),
    "send": ("text", "send a message to `to` (a phone number on stage, or a contact name)"),
    "inject": ("bool", "a bot writes to the phone's running OS (to = \"secure\" or \"open\": "
                       "to that OS's number)"),
    "key_change": ("bool", "a man in the middle writes as the phone's next contact, new key"),
    "wait": ("seconds", "let time pass"),
}
# Keys an action table may carry besides its action.
ACTION_OPTIONS = {"phone", "to", "all"}

# Domain events a step can expect, by class name (fields match with `where`).
EVENTS = ("SetupCompleted", "Unlocked", "Locked", "PinRejected", "PinChanged", "Wiped",
          "SendBlocked", "SettingChanged", "RegistrationChanged", "RadioChanged",
          "LinkProfileChanged", "MessageStateChanged", "PersonaSwitched", "MessageReceived",
          "MessageUpdated", "IdentityChanged", "ContactVerified")


class FlowError(ConfigError):
    """A flow file that cannot be used; says which file, step and key."""


@dataclass(frozen=True)
class Action:
    kind: str
    value: Any
    phone: int = 1
    to: str | None = None
    all: bool = False


@dataclass(frozen=True)
class Expectation:
    """An event (by class name, with field values in ``where``) or text on a phone's screen."""

    phone: int = 1
    event: str | None = None
    where: dict[str, Any] = field(default_factory=dict)
    text: str | None = None
    absent: bool = False  # "text must NOT be on screen"


@dataclass(frozen=True)
class Step:
    number: int
    say: str
    do: tuple[Action, ...] = ()
    expect: tuple[Expectation, ...] = ()
    timeout: float = DEFAULT_TIMEOUT
    hint: str | None = None
    mistakes: tuple[Expectation, ...] = ()
    shot: str | None = None  # a name: `phone-tui screenshots` saves this step as NAME.svg
    solution: tuple[Action, ...] = ()  # what a trainee would do (played when nobody is there)


@dataclass(frozen=True)
class Flow:
    path: Path
    id: str
    title: str
    audience: str
    persona: str = "secure"
    profile: str = "lte"
    handsets: int = 1
    description: str = ""
    theme: str | None = None
    hint_after: float = 20.0  # seconds on a step before its hint shows (training)
    start: str = "locked"  # "locked": phones set up and locked; "setup": phone 1 at first run
    steps: tuple[Step, ...] = ()


def _fail(path: Path, message: str, key: str, line: int | None = None) -> FlowError:
    return FlowError(path, message, key=key, line=line)


def _line_of_step(text: str, number: int) -> int | None:
    """The line of the ``number``-th [[step]] header (1-based), for error messages."""
    seen = 0
    for index, line in enumerate(text.splitlines(), start=1):
        if line.strip() == "[[step]]":
            seen += 1
            if seen == number:
                return index
    return None


def load_flow(path: Path) -> Flow:
    """Read and check a flow file; raise FlowError naming the file, step and key."""
    text = read_text(path, FlowError)
    raw = decode_toml(text, path, FlowError)
    return parse_flow(raw, path, text)


def parse_flow(raw: dict[str, Any], path: Path, text: str = "") -> Flow:
    unknown = sorted(set(raw) - {"flow", "step"})
    if unknown:
        raise _fail(path, "unknown table (a flow has [flow] and [[step]] tables)", unknown[0])
    meta = raw.get("flow")
    if not isinstance(meta, dict):
        raise _fail(path, "missing the [flow] table (id, title, audience)", "flow")
    known_meta = {"id", "title", "audience", "persona", "profile", "handsets", "description",
                  "theme", "start", "hint_after"}
    for key in meta:
        if key not in known_meta:
            raise _fail(path, f"unknown key (known: {', '.join(sorted(known_meta))})",
                        f"flow.{key}")
    values: dict[str, Any] = {}
    for key in ("id", "title", "audience"):
        value = meta.get(key)
        if not isinstance(value, str) or not value.strip():
            raise _fail(path, "expected a non-empty string", f"flow.{key}")
        values[key] = value
    if values["audience"] not in AUDIENCES:
        raise _fail(path, f"expected one of {', '.join(AUDIENCES)}", "flow.audience")
    persona = meta.get("persona", "secure")
    if persona not in PERSONAS:
        raise _fail(path, f"expected one of {', '.join(PERSONAS)}", "flow.persona")
    profile = meta.get("profile", "lte")
    if not isinstance(profile, str) or not profile:
        raise _fail(path, "expected a link profile name", "flow.profile")
    handsets = meta.get("handsets", 1)
    if isinstance(handsets, bool) or not isinstance(handsets, int) or not 1 <= handsets <= 4:
        raise _fail(path, "expected 1 (one handset) or 2 to 4 (a stage)", "flow.handsets")
    description = meta.get("description", "")
    if not isinstance(description, str):
        raise _fail(path, "expected a string", "flow.description")
    theme = meta.get("theme")
    if theme is not None and (not isinstance(theme, str) or not theme):
        raise _fail(path, "expected a theme name", "flow.theme")
    start = meta.get("start", "locked")
    if start not in ("locked", "setup") or (start == "setup" and handsets != 1):
        raise _fail(path, 'expected "locked", or "setup" (one handset, at its first run)',
                    "flow.start")
    hint_after = meta.get("hint_after", 20.0)
    if isinstance(hint_after, bool) or not isinstance(hint_after, int | float) or \
            not 0 <= hint_after <= MAX_TIMEOUT:
        raise _fail(path, f"expected seconds from 0 to {MAX_TIMEOUT:g}", "flow.hint_after")
    entries = raw.get("step")
    if not isinstance(entries, list) or not entries:
        raise _fail(path, "a flow needs at least one [[step]]", "step")
    steps = tuple(_parse_step(path, text, index + 1, entry, handsets)
                  for index, entry in enumerate(entries))
    return Flow(path=path, persona=persona, profile=profile, handsets=handsets,
                description=description, theme=theme, start=start,
                hint_after=float(hint_after), steps=steps, **values)


def _parse_step(path: Path, text: str, number: int, entry: object, handsets: int) -> Step:
    where = f"step {number}"
    line = _line_of_step(text, number)
    if not isinstance(entry, dict):
        raise _fail(path, "expected a table", where, line)
    known = {"say", "do", "expect", "timeout", "hint", "mistake", "shot", "solution"}
    for key in entry:
        if key not in known:
            raise _fail(path, f"unknown key (known: {', '.join(sorted(known))})",
                        f"{where}.{key}", line)
    say = entry.get("say")
    if not isinstance(say, str) or not say.strip():
        raise _fail(path, "expected the text to show (say = \"...\")", f"{where}.say", line)
    timeout = entry.get("timeout", DEFAULT_TIMEOUT)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or \
            not 0 < timeout <= MAX_TIMEOUT:
        raise _fail(path, f"expected seconds, more than 0 and at most {MAX_TIMEOUT:g}",
                    f"{where}.timeout", line)
    hint = entry.get("hint")
    if hint is not None and (not isinstance(hint, str) or not hint.strip()):
        raise _fail(path, "expected a string", f"{where}.hint", line)
    shot = entry.get("shot")
    if shot is not None and (not isinstance(shot, str) or not shot.replace("-", "").isalnum()):
        raise _fail(path, "expected a file name of letters, digits and dashes", f"{where}.shot",
                    line)
    actions = tuple(_parse_action(path, f"{where}.do[{i}]", item, handsets, line)
                    for i, item in enumerate(_as_list(entry.get("do", []))))
    expects = tuple(_parse_expect(path, f"{where}.expect[{i}]", item, handsets, line)
                    for i, item in enumerate(_as_list(entry.get("expect", []))))
    solution = tuple(_parse_action(path, f"{where}.solution[{i}]", item, handsets, line)
                     for i, item in enumerate(_as_list(entry.get("solution", []))))
    mistakes = tuple(_parse_expect(path, f"{where}.mistake[{i}]", item, handsets, line)
                     for i, item in enumerate(_as_list(entry.get("mistake", []))))
    return Step(number, say, actions, expects, float(timeout), hint, mistakes, shot, solution)


def _as_list(value: object) -> list[object]:
    return value if isinstance(value, list) else [value]


def _phone(path: Path, key: str, item: dict[str, Any], handsets: int, line: int | None) -> int:
    phone = item.get("phone", 1)
    if isinstance(phone, bool) or not isinstance(phone, int) or not 1 <= phone <= handsets:
        raise _fail(path, f"expected a phone number from 1 to {handsets}", f"{key}.phone", line)
    return phone


def _parse_action(path: Path, key: str, item: object, handsets: int,
                  line: int | None) -> Action:
    if not isinstance(item, dict):
        raise _fail(path, "expected a table such as { press = \"enter\" }", key, line)
    kinds = [name for name in item if name in ACTIONS]
    extra = [name for name in item if name not in ACTIONS and name not in ACTION_OPTIONS]
    if extra:
        raise _fail(path, f"unknown action (known: {', '.join(ACTIONS)})", f"{key}.{extra[0]}",
                    line)
    if len(kinds) != 1:
        raise _fail(path, "expected exactly one action per table", key, line)
    kind = kinds[0]
    value = item[kind]
    shape = ACTIONS[kind][0]
    ok = {
        "keys": isinstance(value, str) and bool(value) or isinstance(value, list) and bool(value)
        and all(isinstance(k, str) and k for k in value),
        "text": isinstance(value, str) and bool(value),
        "bool": isinstance(value, bool),
        "app": value in ("messages", "network", "settings", "switch", "camera", "maps"),
        "persona": value in PERSONAS,
        "seconds": not isinstance(value, bool) and isinstance(value, int | float)
        and 0 <= value <= MAX_TIMEOUT,
    }[shape]
    if not ok:
        raise _fail(path, f"{kind}: {ACTIONS[kind][1]}", f"{key}.{kind}", line)
    if kind == "press" and isinstance(value, str):
        value = [value]
    to = item.get("to")
    if kind == "send" and (not isinstance(to, str | int) or isinstance(to, bool)):
        raise _fail(path, "send needs to = a phone (1-4) or a contact's name", f"{key}.to", line)
    everyone = item.get("all", False)
    if not isinstance(everyone, bool):
        raise _fail(path, "expected true or false", f"{key}.all", line)
    return Action(kind, value, _phone(path, key, item, handsets, line),
                  None if to is None else str(to), everyone)


def _parse_expect(path: Path, key: str, item: object, handsets: int,
                  line: int | None) -> Expectation:
    if not isinstance(item, dict):
        raise _fail(path, "expected a table such as { event = \"Unlocked\" } or "
                          "{ text = \"Messages\" }", key, line)
    known = {"event", "where", "text", "absent", "phone"}
    for name in item:
        if name not in known:
            raise _fail(path, f"unknown key (known: {', '.join(sorted(known))})",
                        f"{key}.{name}", line)
    event, text = item.get("event"), item.get("text")
    if (event is None) == (text is None):
        raise _fail(path, "expected either event = \"...\" or text = \"...\"", key, line)
    if event is not None and event not in EVENTS:
        raise _fail(path, f"unknown event (known: {', '.join(EVENTS)})", f"{key}.event", line)
    if text is not None and (not isinstance(text, str) or not text):
        raise _fail(path, "expected the text to look for", f"{key}.text", line)
    where = item.get("where", {})
    if not isinstance(where, dict):
        raise _fail(path, "expected a table of field = value", f"{key}.where", line)
    for name, value in where.items():
        if not isinstance(value, str | bool) and not is_number(value):
            raise _fail(path, "expected a string, a number or true/false",
                        f"{key}.where.{name}", line)
    absent = item.get("absent", False)
    if not isinstance(absent, bool) or (absent and text is None):
        raise _fail(path, "absent = true goes with text = \"...\"", f"{key}.absent", line)
    return Expectation(_phone(path, key, item, handsets, line), event, where, text, absent)


def shipped_flows() -> list[Path]:
    """The flows in seeds/flows/, sorted by file name."""
    return sorted((seeds_dir() / "flows").glob("*.toml"))
