"""Domain events the handset publishes. The UI, flow runners and coach subscribe; none poll."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any, ClassVar, dataclass_transform

from phone_tui.core.fanout import Fanout


class FrozenEventError(AttributeError):
    """Events are facts: they cannot be changed after they are emitted."""


@dataclass_transform(frozen_default=True)
class Event:
    """Base class: every event names the persona it happened in.

    A subclass lists its fields as annotations and gets what a frozen dataclass would give
    (keyword or positional construction, equality, hashing, repr, immutability), without
    generating code per class: with some twenty event classes imported at start-up, the
    dataclass machinery cost more than the rest of the model's imports together.
    """

    __slots__ = ("_values",)
    fields: ClassVar[tuple[str, ...]] = ("persona",)
    persona: str

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        own = tuple(name for name, kind in cls.__dict__.get("__annotations__", {}).items()
                    if not str(kind).startswith("ClassVar"))
        cls.fields = cls.fields + tuple(name for name in own if name not in cls.fields)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        names = self.fields
        if not kwargs and len(args) == len(names):  # every field, in order: the usual case
            object.__setattr__(self, "_values", args)
            return
        if len(args) > len(names):
            raise TypeError(f"{type(self).__name__} takes {len(names)} fields, got {len(args)}")
        values = dict(zip(names, args, strict=False))
        for name, value in kwargs.items():
            if name not in names or name in values:
                problem = "unexpected" if name not in names else "repeated"
                raise TypeError(f"{type(self).__name__}: {problem} field {name!r}")
            values[name] = value
        missing = [name for name in names if name not in values]
        if missing:
            raise TypeError(f"{type(self).__name__}: missing {', '.join(missing)}")
        object.__setattr__(self, "_values", tuple(values[name] for name in names))

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[type(self).fields.index(name)]
        except ValueError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: object) -> None:
        raise FrozenEventError(f"cannot set {name!r}: events are immutable")

    def __delattr__(self, name: str) -> None:
        raise FrozenEventError(f"cannot delete {name!r}: events are immutable")

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self._values == other._values  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self), self._values))

    def __repr__(self) -> str:
        inner = ", ".join(f"{name}={value!r}" for name, value in
                          zip(self.fields, self._values, strict=True))
        return f"{type(self).__name__}({inner})"

    def as_dict(self) -> dict[str, object]:
        """The fields by name (what flows and the coach match on)."""
        return dict(zip(self.fields, self._values, strict=True))


class SetupCompleted(Event):
    pass


class Unlocked(Event):
    pass


class Locked(Event):
    reason: str  # "user", "idle", "pin_changed"...


class Guarded(Event):
    """The auto-lock came during a call: the rest of the phone is locked, the call goes on,
    and the phone locks fully when it ends (a keyguard over the call)."""


class GuardLifted(Event):
    """The PIN opened the rest of the phone again during the call."""


class PersonaSwitched(Event):
    """The handset now runs ``persona`` (locked or not set up); ``previous`` was locked and its
    keys dropped from memory."""

    previous: str


class PinRejected(Event):
    failures: int
    attempts_left: int | None
    wait_seconds: float


class PinChanged(Event):
    pass


class Wiped(Event):
    reason: str  # "failures", "duress", "user"


class SettingChanged(Event):
    key: str
    value: object


class RegistrationChanged(Event):
    registration: str  # home, roaming, searching, denied, unregistered
    bars: int
    network_type: str


class RadioChanged(Event):
    radio: str  # camera, gps, wifi, bluetooth
    on: bool


class LinkProfileChanged(Event):
    profile: str


class ViewShown(Event):
    """The person holding the phone now sees ``view`` (an app or one of its screens: "home",
    "messages", "chat", "settings", "radios"...); ``conversation`` is the number a chat or a
    contact's info shows, else "". The UI reports it through the model so training and flows
    can tell what the trainee opened without looking at widgets."""

    view: str
    conversation: str


class MessageWaiting(Event):
    """A message arrived while locked and was kept, encrypted, until the next unlock. Nothing
    about it is known yet (the keys to read it are not in memory), not even its sender."""


class MessageStateChanged(Event):
    msg_id: bytes
    state: str  # sent, delivered, failed
    reason: str


class CellCamped(Event):
    """The radio camped on ``cell``: what the status bar shows (``rat``: 2G, 3G, LTE, 5G) and
    whether its cipher is a null one (the warning glyph). Whether the cell is rogue is not
    here: the phone cannot know."""

    cell: str
    rat: str
    cipher: str
    null_cipher: bool


class CellRefused(Event):
    """The radio refused what a cell offered or asked (``kind``: downgrade_2g, null_cipher,
    identity_request, no_network_authentication, rat_not_allowed, cipher_not_allowed);
    ``text`` is the line the UI shows ("A cell asked this phone to downgrade to 2G —
    refused")."""

    cell: str
    kind: str
    text: str


class NetworkWarning(Event):
    """The radio did something the user asked to be told about (``kind``: unencrypted,
    identity_disclosed), as Android's network notifications do."""

    cell: str
    kind: str
    text: str


Listener = Callable[[Event], None]


class EventStream:
    """Fan-out of events: synchronous listeners plus bounded async subscriptions."""

    def __init__(self, history: int = 256) -> None:
        self._listeners: list[Listener] = []
        self._fanout: Fanout[Event] = Fanout()
        self._history_size = history
        self.history: list[Event] = []

    def listen(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` for every event; returns a function that stops listening."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def subscribe(self, maxsize: int = 1024) -> AsyncIterator[Event]:
        """Iterate events as they come. A reader that falls behind loses the oldest ones."""
        return self._fanout.subscribe(maxsize)

    def emit(self, event: Event) -> None:
        self.history.append(event)
        del self.history[:-self._history_size]
        for listener in list(self._listeners):
            listener(event)
        self._fanout.publish(event)
