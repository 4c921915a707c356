"""Plain carrier calls on the Open OS: the CallMachine's states and media without ZRTP or words.

A plain call is set up by the carrier's voice switch (modem/switch.py) with call control after
TS 24.008 (modem/cc.py): SETUP, ALERTING, CONNECT, DISCONNECT/RELEASE with a cause. The voice
is the same media stream as an end-to-end call's (media/stream.py) but unsealed
(media/plain.py): the radio hop's cipher is its only protection, so the carrier decodes it.
The Secure OS has none by policy (``plain_calls`` in seeds/device.toml): it refuses a SETUP
with "service not implemented", which the caller hears as such ("no_carrier_calls").

These functions are the CallMachine's plain branch (it calls them; they keep its rules: one
call at a time, busy when in a call, every call logged once, marked plain).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from phone_tui.handset.calls import (
    CallInfo,
    CallLogEntry,
    CallState,
    Log,
    SendCc,
    StartMedia,
    StateChanged,
    _Call,
)
from phone_tui.media.plain import plain_ssrcs
from phone_tui.modem.cc import CLEARING, Cause, CcMessage, CcType

if TYPE_CHECKING:
    from phone_tui.handset.calls import Action, CallMachine

# What a clearing cause from the switch means to the call (calls.END_REASONS).
CAUSE_REASONS = {
    Cause.NORMAL_CLEARING: "remote_hung_up",
    Cause.NORMAL_UNSPECIFIED: "remote_hung_up",
    Cause.USER_BUSY: "busy",
    Cause.NO_ANSWER: "no_answer",
    Cause.NO_USER_RESPONDING: "no_answer",
    Cause.CALL_REJECTED: "declined",
    Cause.SUBSCRIBER_ABSENT: "unavailable",
    Cause.UNASSIGNED_NUMBER: "unavailable",
    Cause.SERVICE_NOT_IMPLEMENTED: "no_carrier_calls",  # the Secure OS: end-to-end calls only
    Cause.DESTINATION_OUT_OF_ORDER: "network_failure",
    Cause.TEMPORARY_FAILURE: "network_failure",
    Cause.INVALID_TRANSACTION: "network_failure",  # the switch holds no such call
}
# What this phone's own ending sends (the machine's op for an end-to-end call).
_CLEARING_CAUSES = {"reject": Cause.CALL_REJECTED, "busy": Cause.USER_BUSY}


def call_ref(call_id: str) -> bytes:
    """A plain call's 16-byte call reference: its id is the reference as a UUID."""
    return uuid.UUID(call_id).bytes


def dial(machine: CallMachine, now: float, *, ref: bytes, number: str, name: str,
         codec: str) -> list[Action]:
    info = CallInfo(str(uuid.UUID(bytes=ref)), number, name, "outgoing", CallState.DIALING,
                    started_at=now, codec=codec, plain=True)
    machine._call = _Call(info)
    return [SendCc(number, CcMessage(CcType.SETUP, ref, codec=codec)), StateChanged(info)]


def answer(machine: CallMachine, now: float, call: _Call) -> list[Action]:
    call.answered_at = now
    info = call.info
    return [SendCc(info.number, CcMessage(CcType.CONNECT, call_ref(info.call_id))),
            *_connected(machine, now, call)]


def clearing(info: CallInfo, op: str) -> SendCc:
    """The DISCONNECT this phone sends where an end-to-end call would send ``op``."""
    cause = _CLEARING_CAUSES.get(op, Cause.NORMAL_CLEARING)
    return SendCc(info.number, CcMessage(CcType.DISCONNECT, call_ref(info.call_id), cause))


def receive(machine: CallMachine, now: float, number: str, message: CcMessage, *, name: str,
            allowed: bool) -> list[Action]:
    call_id = str(uuid.UUID(bytes=message.ref))
    if message.type is CcType.SETUP:
        return _setup(machine, now, number, message, call_id, name=name, allowed=allowed)
    call = machine._call
    if call is None or not call.info.plain or call.info.call_id != call_id or (
            call.info.number != number):
        return []  # a late or stray message: the call it was about is over
    info = call.info
    early = info.state in (CallState.DIALING, CallState.RINGING)
    if message.type is CcType.ALERTING and info.direction == "outgoing" and (
            info.state is CallState.DIALING):
        return [StateChanged(machine._set(call, state=CallState.RINGING))]
    if message.type is CcType.CONNECT and info.direction == "outgoing" and early:
        return _connected(machine, now, call)
    if message.type in CLEARING:
        reason = CAUSE_REASONS.get(message.cause, "remote_hung_up")
        if info.direction == "incoming" and info.state is CallState.RINGING:
            reason = "missed"  # the caller gave up, or the switch cleared it
        return machine._end(now, reason)
    return []


def _setup(machine: CallMachine, now: float, number: str, message: CcMessage, call_id: str, *,
           name: str, allowed: bool) -> list[Action]:
    refuse = CcMessage(CcType.RELEASE, message.ref, Cause.SERVICE_NOT_IMPLEMENTED)
    if not allowed:
        return [SendCc(number, refuse)]  # this OS has no plain calls: the caller hears why
    call = machine._call
    if call_id in machine._ended or (call is not None and call.info.call_id == call_id):
        return []  # a copy of a SETUP seen before
    if call is not None:
        machine._remember(call_id)
        busy = CcMessage(CcType.DISCONNECT, message.ref, Cause.USER_BUSY)
        if not machine._may_tell_busy(number, now):
            return []
        return [SendCc(number, busy),
                Log(CallLogEntry(call_id, number, name, "incoming", "missed", now, 0.0, None,
                                 "busy", plain=True))]
    info = CallInfo(call_id, number, name, "incoming", CallState.RINGING, started_at=now,
                    codec=message.codec, plain=True)
    machine._call = _Call(info)
    return [StateChanged(info), SendCc(number, CcMessage(CcType.ALERTING, message.ref))]


def _connected(machine: CallMachine, now: float, call: _Call) -> list[Action]:
    call.media, call.last_media = True, now
    info = machine._set(call, state=CallState.CONNECTED, connected_at=now)
    ssrcs = plain_ssrcs(call_ref(info.call_id), caller=info.direction == "outgoing")
    return [StateChanged(info), StartMedia(info.call_id, info.number, None, info.codec, ssrcs)]
