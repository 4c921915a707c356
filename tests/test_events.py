"""Domain events behave like frozen dataclasses: built by position or name, equal by value."""

from __future__ import annotations

import pytest

from phone_tui.handset.events import (
    Event,
    EventStream,
    FrozenEventError,
    Locked,
    PinRejected,
    Unlocked,
)
from phone_tui.handset.messenger import MessageUpdated


def test_fields_in_order_from_the_base_down():
    assert PinRejected.fields == ("persona", "failures", "attempts_left", "wait_seconds")
    assert MessageUpdated.fields == ("persona", "number", "uuid", "state", "reason")
    assert Unlocked.fields == ("persona",)


def test_equal_by_type_and_value_hashable_and_readable():
    event = PinRejected("secure", 5, 5, 30.0)
    assert event == PinRejected(persona="secure", failures=5, attempts_left=5, wait_seconds=30.0)
    assert event != PinRejected("secure", 6, 4, 0.0)
    assert Unlocked("secure") != Locked("secure", "user") and Unlocked("open") != Unlocked("x")
    assert len({event, PinRejected("secure", 5, 5, 30.0)}) == 1
    assert repr(event) == ("PinRejected(persona='secure', failures=5, attempts_left=5, "
                           "wait_seconds=30.0)")
    assert event.as_dict()["attempts_left"] == 5 and event.wait_seconds == 30.0
    assert isinstance(event, Event)


def test_immutable_and_strict_about_arguments():
    event = Locked("secure", "user")
    with pytest.raises(FrozenEventError):
        event.reason = "idle"
    with pytest.raises(FrozenEventError):
        del event.reason
    with pytest.raises(AttributeError):
        event.colour  # noqa: B018
    with pytest.raises(TypeError, match="missing reason"):
        Locked("secure")
    with pytest.raises(TypeError, match="unexpected field 'colour'"):
        Locked("secure", "user", colour="red")
    with pytest.raises(TypeError, match="repeated field 'persona'"):
        Locked("secure", persona="open", reason="user")
    with pytest.raises(TypeError, match="takes 2 fields"):
        Locked("secure", "user", "extra")


def test_stream_keeps_a_bounded_history_and_stops_listening():
    stream, seen = EventStream(history=3), []
    stop = stream.listen(seen.append)
    for index in range(5):
        stream.emit(Locked("secure", str(index)))
    stop()
    stream.emit(Unlocked("secure"))
    assert [e.reason for e in seen] == ["0", "1", "2", "3", "4"]
    assert stream.history == [Locked("secure", "3"), Locked("secure", "4"), Unlocked("secure")]
