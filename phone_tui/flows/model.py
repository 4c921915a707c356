"""The flow format: one TOML language for demo scripts, training scenarios and snapshot checks.

A flow is metadata plus steps. Each step has ``say`` (what the person is told), optional ``do``
(actions on a phone or the network) and optional ``expect`` (domain events and/or text on a
phone, within ``timeout`` seconds). Everything is checked when the file is read: each mistake
is an error naming the file, the key's line and the key, and every mistake in the file is
reported at once (FlowErrors lists them, one per line).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from phone_tui.core.config import PERSONAS
from phone_tui.core.documents import decode_toml, is_number, line_of, read_text
from phone_tui.core.resources import seeds_dir
from phone_tui.errors import ConfigError, PhoneTuiError
from phone_tui.modem.intercept import CONTENT, RECORD_TYPES, SERVICES

AUDIENCES = ("demo", "training", "test")
DEFAULT_TIMEOUT = 10.0
MAX_TIMEOUT = 600.0

# Each action: its value's kind, and what it does (the README's table is built from these).
ACTIONS: dict[str, tuple[str, str]] = {
    "press": ("keys", "press keys, e.g. \"f2\" or [\"down\", \"enter\"]"),
    "type": ("text", "type text into whatever has focus"),
    "unlock": ("bool", "type the phone's PIN (the demo PIN on a stage) and Enter"),
    "open": ("app", "open an app from the home screen: phone, messages, sms (the Open OS), "
                    "network, settings, switch, camera, maps"),
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
    "mitm": ("bool", "the carrier puts itself in the middle between this phone and the next "
                     "stage phone (F9): both get a changed safety number"),
    "accept": ("text", "accept the changed safety number of a phone on the stage (\"2\") or "
                       "a contact by name, as Accept new number does"),
    "call": ("text", "call a phone on the stage (\"2\") or a contact by name"),
    "carrier_call": ("text", "a plain carrier call (Open OS; the carrier's switch can listen) to "
                             "a phone on the stage (\"2\") or a contact by name"),
    "answer": ("bool", "answer the call ringing on the phone (typing its PIN first if locked)"),
    "decline": ("bool", "decline the call ringing on the phone"),
    "hangup": ("bool", "end the phone's call"),
    "sas": ("words", "the words read aloud: \"match\" or \"differ\" (the call then ends)"),
    "fake_cell": ("bool", "a fake base station (2G, no cipher, asks for the IMSI) next to the "
                          "phone: on (true) or off (false)"),
    "allow_2g": ("bool", "Settings > Network security > Allow 2G on (true) or off (false); "
                         "the Open OS only (the Secure OS never allows 2G)"),
    "sms": ("text", "send a plain SMS (the Open OS's SMS app; the carrier reads it) to `to` (a "
                    "phone on stage, or a contact name)"),
    "wait": ("seconds", "let time pass"),
}
# Keys an action table may carry besides its action.
ACTION_OPTIONS = {"phone", "to", "all"}

# Domain events a step can expect, by class name (fields match with `where`).
EVENTS = ("SetupCompleted", "Unlocked", "Locked", "PinRejected", "PinChanged", "Wiped",
          "SendBlocked", "SettingChanged", "RegistrationChanged", "RadioChanged",
          "LinkProfileChanged", "MessageStateChanged", "PersonaSwitched", "MessageReceived",
          "MessageUpdated", "IdentityChanged", "ContactVerified", "ViewShown",
          "CallStateChanged", "CallSasReady", "CallVerified", "CellCamped", "CellRefused",
          "NetworkWarning", "TextReceived", "TextUpdated")

# What an intercept expectation may ask of a lawful-intercept record (modem/intercept.py).
INTERCEPT_KEYS: dict[str, str] = {
    "record": f"the record type: {', '.join(RECORD_TYPES)}",
    "service": f"the service: {', '.join(SERVICES)}",
    "content": f"what the carrier holds of the content: {', '.join(c for c in CONTENT if c)}",
    "state": "the state (submitted, delivered, routed, stored, released, registered...)",
    "direction": "originating or terminating",
    "from": "the calling party: a phone on the stage (1-4), either of its lines, or a seeded "
            "contact's name (seeds/contacts.toml)",
    "to": "the called party: a phone on the stage (1-4), either of its lines, or a seeded "
          "contact's name (seeds/contacts.toml)",
    "text_contains": "text the record's SMS text holds (HI2 carries a plain SMS's text)",
    "has_text": "true: the record carries a text; false: none (an E2E message's never does)",
}


# What an attacker expectation may ask of the fake base station's catch (modem/rogue.py).
ATTACKER_WHAT = ("imsi", "imei", "sms", "call", "e2e-message", "e2e-call", "call-control")
ATTACKER_KEYS: dict[str, str] = {
    "what": f"what it caught: {', '.join(ATTACKER_WHAT)}",
    "phone": "the victim: a phone on the stage (1-4), either of its lines",
    "text_contains": "text it read (an SMS's text, an IMSI; \"ciphertext\" for E2E)",
}


class FlowError(ConfigError):
    """A flow file that cannot be used; says which file, line, step and key."""

    def __init__(self, path: Path | str, message: str, *, key: str | None = None,
                 line: int | None = None) -> None:
        self.detail = message
        super().__init__(path, message, key=key, line=line)

    @property
    def problems(self) -> tuple[FlowError, ...]:
        return (self,)

    def located(self) -> str:
        """``FILE:LINE: key 'K': message`` (as compilers write it; editors jump to it)."""
        where = f"{self.path}:{self.line}" if self.line is not None else str(self.path)
        if self.key is not None:
            shown = (self.key if self.key.isprintable()
                     else self.key.encode("unicode_escape").decode("ascii"))
            where += f": key '{shown if len(shown) <= 80 else shown[:79] + '…'}'"
        return f"{where}: {self.detail}"


class FlowErrors(FlowError):
    """Every mistake found in one flow file: one FlowError each, listed one per line."""

    def __init__(self, problems: list[FlowError]) -> None:
        self._problems = tuple(problems)
        first = self._problems[0]
        self.path, self.key, self.line, self.detail = first.path, first.key, first.line, \
            first.detail
        PhoneTuiError.__init__(self, "\n".join(str(problem) for problem in self._problems))

    @property
    def problems(self) -> tuple[FlowError, ...]:
        return self._problems


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
    absent: bool = False  # "text must NOT be on screen" (or: no such intercept record)
    # A lawful-intercept record since the step began, by INTERCEPT_KEYS (from / to: phones).
    intercept: dict[str, Any] | None = None
    # Something the fake base station caught since the step began, by ATTACKER_KEYS.
    attacker: dict[str, Any] | None = None
    say: str | None = None  # a mistake's own words: what the coach tells the trainee


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


class _Problems:
    """The mistakes found so far in one flow file, each at its key's own line."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.text = text
        self.found: list[FlowError] = []

    def add(self, message: str, key: str) -> None:
        self.found.append(FlowError(self.path, message, key=key, line=self.line(key)))

    def line(self, key: str) -> int | None:
        """The line that sets ``key`` ("flow.audience", "step 2.do[0].press"): the key's own
        line, else the nearest key above it that is found, else its table's header."""
        head, _, rest = key.partition(".")
        step = re.fullmatch(r"step (\d+)", head)
        table = f"step[{int(step.group(1)) - 1}]" if step else head
        parts = [re.sub(r"\[\d+\]$", "", part) for part in rest.split(".")] if rest else []
        for cut in range(len(parts), 0, -1):
            found = line_of(self.text, ".".join([table, *parts[:cut]]))
            if found is not None:
                return found
        return _line_of_step(self.text, int(step.group(1))) if step else \
            _line_of_header(self.text, head)

    def raise_any(self) -> None:
        if len(self.found) == 1:
            raise self.found[0]
        if self.found:
            raise FlowErrors(self.found)


def _line_of_step(text: str, number: int) -> int | None:
    """The line of the ``number``-th [[step]] header (1-based), for error messages."""
    seen = 0
    for index, line in enumerate(text.splitlines(), start=1):
        if line.strip() == "[[step]]":
            seen += 1
            if seen == number:
                return index
    return None


def _line_of_header(text: str, table: str) -> int | None:
    """The line of a ``[table]`` or ``[[table]]`` header, for error messages."""
    header = re.compile(rf"^\s*\[\[?\s*\"?{re.escape(table)}\"?\s*\]")
    return next((index for index, line in enumerate(text.splitlines(), start=1)
                 if header.match(line)), None)


def load_flow(path: Path) -> Flow:
    """Read and check a flow file; raise FlowError naming the file, line, step and key (or
    FlowErrors listing every mistake when there are several)."""
    text = read_text(path, FlowError)
    raw = decode_toml(text, path, FlowError)
    return parse_flow(raw, path, text)


def parse_flow(raw: dict[str, Any], path: Path, text: str = "") -> Flow:
    problems = _Problems(path, text)
    fail = problems.add
    for name in sorted(set(raw) - {"flow", "step"}):
        fail("unknown table (a flow has [flow] and [[step]] tables)", name)
    meta = raw.get("flow")
    if not isinstance(meta, dict):
        fail("missing the [flow] table (id, title, audience)", "flow")
        meta = {}
    known_meta = {"id", "title", "audience", "persona", "profile", "handsets", "description",
                  "theme", "start", "hint_after"}
    for key in meta:
        if key not in known_meta:
            fail(f"unknown key (known: {', '.join(sorted(known_meta))})", f"flow.{key}")
    values: dict[str, Any] = {}
    for key in ("id", "title", "audience"):
        value = meta.get(key)
        if isinstance(raw.get("flow"), dict) and (not isinstance(value, str)
                                                  or not value.strip()):
            fail("expected a non-empty string", f"flow.{key}")
        values[key] = value
    if isinstance(values["audience"], str) and values["audience"].strip() and \
            values["audience"] not in AUDIENCES:
        fail(f"expected one of {', '.join(AUDIENCES)}", "flow.audience")
    persona = meta.get("persona", "secure")
    if persona not in PERSONAS:
        fail(f"expected one of {', '.join(PERSONAS)}", "flow.persona")
    profile = meta.get("profile", "lte")
    if not isinstance(profile, str) or not profile:
        fail("expected a link profile name", "flow.profile")
    handsets = meta.get("handsets", 1)
    if isinstance(handsets, bool) or not isinstance(handsets, int) or not 1 <= handsets <= 4:
        fail("expected 1 (one handset) or 2 to 4 (a stage)", "flow.handsets")
        handsets = 4  # the steps are checked against the largest stage meanwhile
    description = meta.get("description", "")
    if not isinstance(description, str):
        fail("expected a string", "flow.description")
    theme = meta.get("theme")
    if theme is not None and (not isinstance(theme, str) or not theme):
        fail("expected a theme name", "flow.theme")
    start = meta.get("start", "locked")
    if start not in ("locked", "setup") or (start == "setup" and handsets != 1):
        fail('expected "locked", or "setup" (one handset, at its first run)', "flow.start")
    hint_after = meta.get("hint_after", 20.0)
    if isinstance(hint_after, bool) or not isinstance(hint_after, int | float) or \
            not 0 <= hint_after <= MAX_TIMEOUT:
        fail(f"expected seconds from 0 to {MAX_TIMEOUT:g}", "flow.hint_after")
    entries = raw.get("step")
    if not isinstance(entries, list) or not entries:
        fail("a flow needs at least one [[step]]", "step")
        entries = []
    steps = tuple(_parse_step(problems, index + 1, entry, handsets)
                  for index, entry in enumerate(entries))
    problems.raise_any()
    return Flow(path=path, persona=persona, profile=profile, handsets=handsets,
                description=description, theme=theme, start=start,
                hint_after=float(hint_after), steps=steps, **values)


def _parse_step(problems: _Problems, number: int, entry: object, handsets: int) -> Step:
    """One [[step]]; each mistake is added to ``problems`` (the Step is then unused)."""
    fail = problems.add
    where = f"step {number}"
    if not isinstance(entry, dict):
        fail("expected a table", where)
        entry = {}
    known = {"say", "do", "expect", "timeout", "hint", "mistake", "shot", "solution"}
    for key in entry:
        if key not in known:
            fail(f"unknown key (known: {', '.join(sorted(known))})", f"{where}.{key}")
    say = entry.get("say")
    if not isinstance(say, str) or not say.strip():
        fail("expected the text to show (say = \"...\")", f"{where}.say")
    timeout = entry.get("timeout", DEFAULT_TIMEOUT)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or \
            not 0 < timeout <= MAX_TIMEOUT:
        fail(f"expected seconds, more than 0 and at most {MAX_TIMEOUT:g}", f"{where}.timeout")
        timeout = DEFAULT_TIMEOUT
    hint = entry.get("hint")
    if hint is not None and (not isinstance(hint, str) or not hint.strip()):
        fail("expected a string", f"{where}.hint")
    shot = entry.get("shot")
    if shot is not None and (not isinstance(shot, str) or not shot.replace("-", "").isalnum()):
        fail("expected a file name of letters, digits and dashes", f"{where}.shot")

    def each(key: str, parse: Any) -> tuple[Any, ...]:
        parsed = []
        for i, item in enumerate(_as_list(entry.get(key, []))):
            try:
                parsed.append(parse(f"{where}.{key}[{i}]", item, handsets))
            except _Bad as bad:
                fail(bad.message, bad.key)
        return tuple(parsed)

    actions = each("do", _parse_action)
    expects = each("expect", _parse_expect)
    solution = each("solution", _parse_action)
    mistakes = each("mistake", _parse_mistake)
    return Step(number, str(say), actions, expects, float(timeout), hint, mistakes, shot,
                solution)


class _Bad(Exception):  # noqa: N818 - internal: one mistake in one action or expectation
    """The first mistake in one inline table (the rest of that table is not checked)."""

    def __init__(self, message: str, key: str) -> None:
        super().__init__(message)
        self.message = message
        self.key = key


def _as_list(value: object) -> list[object]:
    return value if isinstance(value, list) else [value]


def _phone(key: str, item: dict[str, Any], handsets: int) -> int:
    phone = item.get("phone", 1)
    if isinstance(phone, bool) or not isinstance(phone, int) or not 1 <= phone <= handsets:
        raise _Bad(f"expected a phone number from 1 to {handsets}", f"{key}.phone")
    return phone


def _parse_action(key: str, item: object, handsets: int) -> Action:
    if not isinstance(item, dict):
        raise _Bad("expected a table such as { press = \"enter\" }", key)
    kinds = [name for name in item if name in ACTIONS]
    extra = [name for name in item if name not in ACTIONS and name not in ACTION_OPTIONS]
    if extra:
        raise _Bad(f"unknown action (known: {', '.join(ACTIONS)})", f"{key}.{extra[0]}")
    if len(kinds) != 1:
        raise _Bad("expected exactly one action per table", key)
    kind = kinds[0]
    value = item[kind]
    shape = ACTIONS[kind][0]
    ok = {
        "keys": isinstance(value, str) and bool(value) or isinstance(value, list) and bool(value)
        and all(isinstance(k, str) and k for k in value),
        "text": isinstance(value, str) and bool(value),
        "bool": isinstance(value, bool),
        "app": value in ("phone", "messages", "sms", "network", "settings", "switch", "camera",
                         "maps"),
        "words": value in ("match", "differ"),
        "persona": value in PERSONAS,
        "seconds": not isinstance(value, bool) and isinstance(value, int | float)
        and 0 <= value <= MAX_TIMEOUT,
    }[shape]
    if not ok:
        raise _Bad(f"{kind}: {ACTIONS[kind][1]}", f"{key}.{kind}")
    if kind == "press" and isinstance(value, str):
        value = [value]
    to = item.get("to")
    if kind == "send" and (not isinstance(to, str | int) or isinstance(to, bool)):
        raise _Bad("send needs to = a phone (1-4) or a contact's name", f"{key}.to")
    everyone = item.get("all", False)
    if not isinstance(everyone, bool):
        raise _Bad("expected true or false", f"{key}.all")
    return Action(kind, value, _phone(key, item, handsets), None if to is None else str(to),
                  everyone)


def _parse_expect(key: str, item: object, handsets: int) -> Expectation:
    if not isinstance(item, dict):
        raise _Bad("expected a table such as { event = \"Unlocked\" } or "
                   "{ text = \"Messages\" }", key)
    known = {"event", "where", "text", "absent", "phone", "intercept", "attacker"}
    for name in item:
        if name not in known:
            raise _Bad(f"unknown key (known: {', '.join(sorted(known))})", f"{key}.{name}")
    event, text = item.get("event"), item.get("text")
    if "intercept" in item:
        return _parse_intercept(key, item, handsets)
    if "attacker" in item:
        return _parse_attacker(key, item, handsets)
    if (event is None) == (text is None):
        raise _Bad("expected either event = \"...\", text = \"...\" or intercept = { ... }",
                   key)
    if event is not None and event not in EVENTS:
        raise _Bad(f"unknown event (known: {', '.join(EVENTS)})", f"{key}.event")
    if text is not None and (not isinstance(text, str) or not text):
        raise _Bad("expected the text to look for", f"{key}.text")
    where = item.get("where", {})
    if not isinstance(where, dict):
        raise _Bad("expected a table of field = value", f"{key}.where")
    for name, value in where.items():
        if not isinstance(value, str | bool) and not is_number(value):
            raise _Bad("expected a string, a number or true/false", f"{key}.where.{name}")
    absent = item.get("absent", False)
    if not isinstance(absent, bool) or (absent and text is None):
        raise _Bad("absent = true goes with text = \"...\"", f"{key}.absent")
    return Expectation(_phone(key, item, handsets), event, where, text, absent)


def _parse_mistake(key: str, item: object, handsets: int) -> Expectation:
    """A `mistake`: an expectation, with ``say`` (optional): what the coach tells the trainee
    when it happens, and again in the summary (else it describes the event)."""
    if not isinstance(item, dict) or "say" not in item:
        return _parse_expect(key, item, handsets)
    say = item["say"]
    if not isinstance(say, str) or not say.strip():
        raise _Bad("expected the sentence the coach says (say = \"...\")", f"{key}.say")
    rest = {name: value for name, value in item.items() if name != "say"}
    return replace(_parse_expect(key, rest, handsets), say=" ".join(say.split()))


def contact_names() -> tuple[str, ...]:
    """The seeded contacts' names (seeds/contacts.toml): what an intercept's from / to may name."""
    from phone_tui.handset.contacts import load_contacts

    return tuple(contact.name for contact in load_contacts())


def _parse_intercept(key: str, item: dict[str, Any], handsets: int) -> Expectation:
    """``{ intercept = { service = "sms", text_contains = "..." } }``: a lawful-intercept
    record since the step began (``absent = true``: none such)."""
    for name in ("event", "text", "where", "phone"):
        if name in item:
            raise _Bad("intercept goes alone (with absent = true at most): the carrier's "
                       "records are not a phone's", f"{key}.{name}")
    wanted = item["intercept"]
    where = f"{key}.intercept"
    if not isinstance(wanted, dict) or not wanted:
        raise _Bad("expected a table such as { service = \"sms\", text_contains = \"...\" }",
                   where)
    choices = {"record": RECORD_TYPES, "service": SERVICES,
               "content": tuple(c for c in CONTENT if c),
               "direction": ("originating", "terminating")}
    for name, value in wanted.items():
        if name not in INTERCEPT_KEYS:
            raise _Bad(f"unknown key (known: {', '.join(INTERCEPT_KEYS)})", f"{where}.{name}")
        if name in choices and value not in choices[name]:
            raise _Bad(f"expected one of {', '.join(choices[name])}", f"{where}.{name}")
        if name in ("from", "to") and isinstance(value, str):
            if value not in (names := contact_names()):
                raise _Bad(f"expected a phone from 1 to {handsets} or a contact's name "
                           f"(known: {', '.join(names)})", f"{where}.{name}")
        elif name in ("from", "to") and (isinstance(value, bool) or not isinstance(value, int)
                                         or not 1 <= value <= handsets):
            raise _Bad(f"expected a phone number from 1 to {handsets}", f"{where}.{name}")
        if name in ("state", "text_contains") and (not isinstance(value, str) or not value):
            raise _Bad("expected a non-empty string", f"{where}.{name}")
        if name == "has_text" and not isinstance(value, bool):
            raise _Bad("expected true or false", f"{where}.{name}")
    if wanted.get("has_text") is False and "text_contains" in wanted:
        raise _Bad("has_text = false and text_contains cannot both hold", f"{where}.has_text")
    absent = item.get("absent", False)
    if not isinstance(absent, bool):
        raise _Bad("expected true or false", f"{key}.absent")
    return Expectation(1, None, {}, None, absent, dict(wanted))


def _parse_attacker(key: str, item: dict[str, Any], handsets: int) -> Expectation:
    """``{ attacker = { what = "sms", text_contains = "..." } }``: something the fake base
    station caught since the step began (``absent = true``: nothing such)."""
    for name in ("event", "text", "where", "phone", "intercept"):
        if name in item:
            raise _Bad("attacker goes alone (with absent = true at most)", f"{key}.{name}")
    wanted = item["attacker"]
    where = f"{key}.attacker"
    if not isinstance(wanted, dict) or not wanted:
        raise _Bad("expected a table such as { what = \"sms\", text_contains = \"...\" }",
                   where)
    for name, value in wanted.items():
        if name not in ATTACKER_KEYS:
            raise _Bad(f"unknown key (known: {', '.join(ATTACKER_KEYS)})", f"{where}.{name}")
        if name == "what" and value not in ATTACKER_WHAT:
            raise _Bad(f"expected one of {', '.join(ATTACKER_WHAT)}", f"{where}.{name}")
        if name == "phone" and (isinstance(value, bool) or not isinstance(value, int)
                                or not 1 <= value <= handsets):
            raise _Bad(f"expected a phone number from 1 to {handsets}", f"{where}.{name}")
        if name == "text_contains" and (not isinstance(value, str) or not value):
            raise _Bad("expected a non-empty string", f"{where}.{name}")
    absent = item.get("absent", False)
    if not isinstance(absent, bool):
        raise _Bad("expected true or false", f"{key}.absent")
    return Expectation(1, None, {}, None, absent, None, dict(wanted))


def shipped_flows() -> list[Path]:
    """The flows in seeds/flows/, sorted by file name."""
    return sorted((seeds_dir() / "flows").glob("*.toml"))
