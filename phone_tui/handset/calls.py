"""Calls: one at a time per persona, signalled end to end over the messenger.

``CallMachine`` is the sans-IO core: it takes the user's actions, the peer's decrypted signalling
and network reports, each with the time, and returns what to do (signals to send, events, media
to start or stop, a line for the call log); it keeps no clock and does no I/O. ``CallService``
is the shell over one persona's Messenger that carries those actions out.

Key agreement after ZRTP (RFC 6189; crypto/zrtp.py): the offer carries the caller's commitment
H(call id, caller ephemeral), the answer the callee's ephemeral, the reveal the caller's; the
callee checks the commitment before it derives. Both derive the media keys and the SAS bound to
both identity keys (the messenger's contact identity) and the call id.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

from phone_tui.crypto.zrtp import (
    CallSecrets,
    SideKeys,
    ZrtpError,
    agree,
    commitment,
    commitment_matches,
    derive,
    ephemeral_from,
    public_bytes,
)
from phone_tui.errors import PhoneTuiError
from phone_tui.handset.events import Event
from phone_tui.handset.payloads import CallPayload
from phone_tui.media.audio import CallAudio
from phone_tui.modem.cc import CcMessage

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    from phone_tui.handset.messenger import Messenger

log = logging.getLogger(__name__)

NO_ANSWER_S = 45.0  # ringing this long without an answer ends the call, on both sides
CONNECT_TIMEOUT_S = 15.0  # answered but no keys agreed this long after: network failure
MEDIA_TIMEOUT_S = 15.0  # connected, and no media heard this long: network failure
BUSY_EVERY_S = 5.0  # one busy reply (and missed-call line) per number in this time
BUSY_NUMBERS = 256  # numbers whose last busy reply is remembered
ENDED_CALLS = 256  # call ids remembered once ended, so their late or replayed signals drop
DEFAULT_CODEC = "opus-16k"


class CallState(StrEnum):
    DIALING = "dialing"
    RINGING = "ringing"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    ENDED = "ended"


END_REASONS = ("hung_up", "remote_hung_up", "declined", "busy", "no_answer", "no_service",
               "unavailable", "network_failure", "identity_changed", "words_differ",
               "words_differ_remote",
               "cancelled", "missed", "no_carrier_calls")
OUTCOMES = ("missed", "incoming", "outgoing", "declined", "failed")
_FAILED = ("unavailable", "no_service", "network_failure", "identity_changed",
           "no_carrier_calls")
_LIVE = (CallState.DIALING, CallState.RINGING, CallState.CONNECTING, CallState.CONNECTED)


class CallError(PhoneTuiError):
    """A call that cannot be made or an action that does not fit the call; says why."""


@dataclass(frozen=True)
class CallInfo:
    """What the UI shows of a call."""

    call_id: str
    number: str
    name: str
    direction: str  # "outgoing" | "incoming"
    state: CallState
    reason: str = ""
    started_at: float = 0.0
    connected_at: float | None = None
    ended_at: float | None = None
    sas: tuple[str, str] | None = None
    verified: str | None = None  # "match" | "differ" | None
    muted: bool = False
    speaker: bool = False
    held: bool = False
    remote_held: bool = False
    codec: str = DEFAULT_CODEC
    locked: bool = False  # rang while the phone was locked: number only, name unknown
    warning: str = ""
    plain: bool = False  # a carrier call: not end-to-end encrypted, no words (plaincall.py)

    def __repr__(self) -> str:  # the words stay out of logs
        return (f"CallInfo({self.direction} {self.number} {self.state.value}"
                f"{' ' + self.reason if self.reason else ''})")


@dataclass(frozen=True)
class CallLogEntry:
    call_id: str
    number: str
    name: str
    direction: str
    outcome: str  # one of OUTCOMES
    at: float
    duration_s: float
    verified: str | None
    reason: str = ""  # how it ended (one of END_REASONS); "" when not known (logged before)
    plain: bool = False  # a carrier call, not end-to-end encrypted


# ---- what the machine asks for -----------------------------------------------------------------


@dataclass(frozen=True)
class Send:
    number: str
    payload: CallPayload


@dataclass(frozen=True)
class StateChanged:
    info: CallInfo


@dataclass(frozen=True)
class ControlChanged:
    info: CallInfo


@dataclass(frozen=True)
class SasReady:
    call_id: str
    words: tuple[str, str]

    def __repr__(self) -> str:
        return f"SasReady({self.call_id})"


@dataclass(frozen=True)
class Verified:
    call_id: str
    match: bool
    number: str = ""
    peer_identity: bytes | None = None  # the identity key the call's words were bound to

    def __repr__(self) -> str:
        return f"Verified({self.call_id}, {self.match})"


@dataclass(frozen=True)
class SendCc:
    """Call control of a plain call, to the carrier's voice switch (modem/cc.py)."""

    number: str
    message: CcMessage


@dataclass(frozen=True)
class StartMedia:
    call_id: str
    number: str
    keys: SideKeys | None  # None: a plain call's media, unsealed, with ``plain_ssrcs``
    codec: str
    plain_ssrcs: tuple[int, int] | None = None  # (send, receive)


@dataclass(frozen=True)
class StopMedia:
    call_id: str


@dataclass(frozen=True)
class Log:
    entry: CallLogEntry


Action = (Send | SendCc | StateChanged | ControlChanged | SasReady | Verified | StartMedia
          | StopMedia | Log)


@dataclass
class _Call:
    """The machine's own record of the call under way (secrets included)."""

    info: CallInfo
    ephemeral: X25519PrivateKey | None = None
    commit: bytes | None = None  # callee: the caller's commitment from the offer
    answered_at: float | None = None
    last_media: float | None = None
    media: bool = False
    peer_identity: bytes | None = None  # bound into the keys and the words at connect


class CallMachine:
    """One persona's calls, one at a time: the sans-IO core. Every method takes the time."""

    def __init__(self, *, identity: bytes, no_answer_s: float = NO_ANSWER_S,
                 connect_timeout_s: float = CONNECT_TIMEOUT_S,
                 media_timeout_s: float | None = MEDIA_TIMEOUT_S) -> None:
        self.identity = identity
        self.no_answer_s = no_answer_s
        self.connect_timeout_s = connect_timeout_s
        self.media_timeout_s = media_timeout_s
        self._call: _Call | None = None
        self._ended: OrderedDict[str, None] = OrderedDict()
        self._busy_told: OrderedDict[str, float] = OrderedDict()

    @property
    def current(self) -> CallInfo | None:
        return None if self._call is None else self._call.info

    # ---- the user's actions ------------------------------------------------------------------

    def dial(self, now: float, *, call_id: str, number: str, name: str,
             ephemeral: X25519PrivateKey, codec: str = DEFAULT_CODEC) -> list[Action]:
        if self._call is not None:
            raise CallError("You are already in a call. Hang up first.")
        info = CallInfo(call_id, number, name, "outgoing", CallState.DIALING, started_at=now,
                        codec=codec)
        self._call = _Call(info, ephemeral=ephemeral)
        commit = commitment(call_id, public_bytes(ephemeral))
        return [Send(number, CallPayload("offer", call_id, now, commit=commit, codec=codec)),
                StateChanged(info)]

    def dial_plain(self, now: float, *, ref: bytes, number: str, name: str,
                   codec: str = DEFAULT_CODEC) -> list[Action]:
        """A plain carrier call (plaincall.py): set up by the carrier's switch, no words."""
        if self._call is not None:
            raise CallError("You are already in a call. Hang up first.")
        from phone_tui.handset import plaincall

        return plaincall.dial(self, now, ref=ref, number=number, name=name, codec=codec)

    def receive_cc(self, now: float, number: str, message: CcMessage, *, name: str,
                   allowed: bool) -> list[Action]:
        """Call control from the carrier's switch about a plain call with ``number``; a SETUP
        is refused unless this OS has plain calls (``allowed``)."""
        from phone_tui.handset import plaincall

        return plaincall.receive(self, now, number, message, name=name, allowed=allowed)

    def discard(self) -> None:
        """Forget the call just dialled whose offer could not be sent (nothing is logged)."""
        if self._call is not None:
            self._remember(self._call.info.call_id)
        self._call = None

    def answer(self, now: float, ephemeral: X25519PrivateKey) -> list[Action]:
        call = self._need(CallState.RINGING, "incoming", "There is no call to answer.")
        if call.info.plain:
            from phone_tui.handset import plaincall

            return plaincall.answer(self, now, call)
        call.ephemeral, call.answered_at = ephemeral, now
        info = self._set(call, state=CallState.CONNECTING)
        return [Send(info.number, CallPayload("answer", info.call_id, now,
                                              key=public_bytes(ephemeral))),
                StateChanged(info)]

    def decline(self, now: float) -> list[Action]:
        self._need(CallState.RINGING, "incoming", "There is no call to decline.")
        return self._end(now, "declined", send="reject")

    def hangup(self, now: float) -> list[Action]:
        call = self._call
        if call is None:
            return []
        info = call.info
        if info.direction == "incoming" and info.state is CallState.RINGING:
            return self._end(now, "declined", send="reject")
        if info.state in (CallState.DIALING, CallState.RINGING):
            return self._end(now, "cancelled", send="hangup")
        return self._end(now, "hung_up", send="hangup")

    def confirm_sas(self, now: float, match: bool) -> list[Action]:
        call = self._need(CallState.CONNECTED, None, "There are no words to confirm yet.")
        if call.info.sas is None:
            raise CallError("There are no words to confirm yet.")
        info = self._set(call, verified="match" if match else "differ")
        actions: list[Action] = [Verified(info.call_id, match, info.number, call.peer_identity)]
        if match:
            return actions + [ControlChanged(info)]
        return actions + self._end(now, "words_differ", send="differ",
                                   warning="The words differed: someone may be listening in. "
                                           "Call again and compare the words.")

    def set_controls(self, now: float, **controls: bool) -> list[Action]:
        """Mute, speaker, hold (``muted=``, ``speaker=``, ``held=``) or what the peer's media
        says (``remote_held=``)."""
        call = self._call
        if call is None or call.info.state is CallState.ENDED:
            raise CallError("There is no call.")
        unknown = set(controls) - {"muted", "speaker", "held", "remote_held"}
        if unknown:
            raise ValueError(f"unknown controls {sorted(unknown)}")
        if all(getattr(call.info, name) == value for name, value in controls.items()):
            return []
        return [ControlChanged(self._set(call, **controls))]

    def fail(self, now: float, reason: str) -> list[Action]:
        """End the call under way for a reason found outside (no service, identity changed)."""
        if self._call is None:
            return []
        return self._end(now, reason, send="hangup")

    def media_alive(self, now: float) -> None:
        """Media was heard from the peer now."""
        if self._call is not None:
            self._call.last_media = now

    # ---- the peer's signalling and the network's reports -------------------------------------

    def receive(self, now: float, number: str, payload: CallPayload, *, name: str,
                peer_identity: bytes | None, warning: str = "",
                locked: bool = False) -> list[Action]:
        """A decrypted, schema-checked signal from ``number`` (whose identity key, as the
        messenger knows it, is ``peer_identity``)."""
        call = self._call
        if payload.op == "offer":
            return self._offer(now, number, payload, name=name, warning=warning, locked=locked)
        if call is None or call.info.call_id != payload.call or call.info.number != number:
            if payload.op == "hangup" and payload.call not in self._ended and (
                    call is None or call.info.call_id != payload.call):
                # A hangup that overtook its offer: the offer, when it comes, rings no more.
                self._remember(payload.call)
            log.debug("dropped a %s signal for a call not under way", payload.op)
            return []
        info = call.info
        outgoing_early = info.direction == "outgoing" and info.state in (
            CallState.DIALING, CallState.RINGING)
        if payload.op == "answer" and outgoing_early:
            return self._caller_connects(now, call, payload, peer_identity)
        if payload.op == "reveal" and info.direction == "incoming" and (
                info.state is CallState.CONNECTING):
            return self._callee_connects(now, call, payload, peer_identity)
        if payload.op == "reject" and outgoing_early:
            return self._end(now, "declined")
        if payload.op == "busy" and outgoing_early:
            return self._end(now, "busy")
        if payload.op == "differ" and info.state is CallState.CONNECTED:
            # The other side read the words, heard different ones and hung up.
            return self._end(now, "words_differ_remote",
                             warning="The other phone heard different words: someone may be "
                                     "listening in. Call again and compare the words.")
        if payload.op in ("hangup", "differ"):
            if info.direction == "incoming" and info.state is CallState.RINGING:
                return self._end(now, "missed")
            return self._end(now, "remote_hung_up")
        log.debug("dropped a %s signal out of order", payload.op)
        return []

    def report(self, now: float, number: str, call_id: str, op: str, state: str,
               reason: str) -> list[Action]:
        """The network's word on a signal we sent: sent, delivered, failed or unavailable."""
        call = self._call
        if call is None or call.info.call_id != call_id or call.info.number != number:
            return []
        if state == "unavailable" and op == "offer":
            return self._end(now, "unavailable")
        if state == "failed" and op in ("offer", "answer", "reveal"):
            return self._end(now, "network_failure")
        if state == "delivered" and op == "offer" and call.info.state is CallState.DIALING:
            return [StateChanged(self._set(call, state=CallState.RINGING))]
        return []

    def tick(self, now: float) -> list[Action]:
        """Time passed: end calls that rang too long, never connected or went silent."""
        call = self._call
        if call is None:
            return []
        info = call.info
        if info.state in (CallState.DIALING, CallState.RINGING) and (
                now >= info.started_at + self.no_answer_s):
            return self._end(now, "no_answer", send="hangup" if info.direction == "outgoing"
                             else None)
        if info.state is CallState.CONNECTING and call.answered_at is not None and (
                now >= call.answered_at + self.connect_timeout_s):
            return self._end(now, "network_failure", send="hangup")
        if info.state is CallState.CONNECTED and self.media_timeout_s is not None:
            heard = call.last_media if call.last_media is not None else info.connected_at
            if heard is not None and now >= heard + self.media_timeout_s:
                return self._end(now, "network_failure", send="hangup")
        return []

    def next_deadline(self) -> float | None:
        """When ``tick`` next has something to do (None: nothing pending)."""
        call = self._call
        if call is None:
            return None
        info = call.info
        if info.state in (CallState.DIALING, CallState.RINGING):
            return info.started_at + self.no_answer_s
        if info.state is CallState.CONNECTING and call.answered_at is not None:
            return call.answered_at + self.connect_timeout_s
        if info.state is CallState.CONNECTED and self.media_timeout_s is not None:
            heard = call.last_media if call.last_media is not None else info.connected_at
            return None if heard is None else heard + self.media_timeout_s
        return None

    # ---- inside ------------------------------------------------------------------------------

    def _offer(self, now: float, number: str, payload: CallPayload, *, name: str,
               warning: str, locked: bool) -> list[Action]:
        call = self._call
        if payload.call in self._ended or (call is not None
                                           and call.info.call_id == payload.call):
            return []  # a copy of an offer seen before
        missed = Log(CallLogEntry(payload.call, number, name, "incoming", "missed",
                                  payload.at, 0.0, None, "missed"))
        if now - payload.at > self.no_answer_s:
            # Kept by the network or the spool until it no longer rings: a missed call.
            self._remember(payload.call)
            return [missed]
        actions: list[Action] = []
        if call is not None:
            info = call.info
            glare = (info.number == number and info.direction == "outgoing"
                     and info.state in (CallState.DIALING, CallState.RINGING))
            if glare and info.call_id < payload.call:
                # Both dialled each other at once: the lower call id is kept, on both phones.
                self._remember(payload.call)
                return []
            if glare:
                actions = self._end(now, "cancelled", logged=False)
            else:
                self._remember(payload.call)
                if not self._may_tell_busy(number, now):
                    return []  # a flood of offers costs a decrypt each, and nothing more
                # Missed because this phone was on another call: the caller heard "busy".
                return [Send(number, CallPayload("busy", payload.call, now)),
                        Log(replace(missed.entry, reason="busy"))]
        info = CallInfo(payload.call, number, name, "incoming",
                        CallState.RINGING, started_at=now, codec=payload.codec or DEFAULT_CODEC,
                        locked=locked, warning=warning)
        self._call = _Call(info, commit=payload.commit)
        return actions + [StateChanged(info)]

    def _caller_connects(self, now: float, call: _Call, payload: CallPayload,
                         peer_identity: bytes | None) -> list[Action]:
        assert call.ephemeral is not None and payload.key is not None
        try:
            if peer_identity is None:
                raise ZrtpError("the peer's identity key is not known")
            secrets = derive(agree(call.ephemeral, payload.key), call_id=call.info.call_id,
                             caller_identity=self.identity, callee_identity=peer_identity,
                             caller_ephemeral=public_bytes(call.ephemeral),
                             callee_ephemeral=payload.key)
        except ZrtpError as problem:
            log.info("call key agreement failed: %s", problem)
            return self._end(now, "network_failure", send="hangup")
        call.peer_identity = peer_identity
        reveal = Send(call.info.number, CallPayload("reveal", call.info.call_id, now,
                                                    key=public_bytes(call.ephemeral)))
        return [reveal] + self._connected(now, call, secrets, caller=True)

    def _callee_connects(self, now: float, call: _Call, payload: CallPayload,
                         peer_identity: bytes | None) -> list[Action]:
        assert call.ephemeral is not None and payload.key is not None
        if call.commit is None or not commitment_matches(call.info.call_id, call.commit,
                                                         payload.key):
            log.warning("a caller's key did not match its commitment: call ended")
            return self._end(now, "network_failure", send="hangup",
                             warning="The caller's key did not match what it committed to: "
                                     "the call was tampered with.")
        try:
            if peer_identity is None:
                raise ZrtpError("the peer's identity key is not known")
            secrets = derive(agree(call.ephemeral, payload.key), call_id=call.info.call_id,
                             caller_identity=peer_identity, callee_identity=self.identity,
                             caller_ephemeral=payload.key,
                             callee_ephemeral=public_bytes(call.ephemeral))
        except ZrtpError as problem:
            log.info("call key agreement failed: %s", problem)
            return self._end(now, "network_failure", send="hangup")
        call.peer_identity = peer_identity
        return self._connected(now, call, secrets, caller=False)

    def _connected(self, now: float, call: _Call, secrets: CallSecrets, *,
                   caller: bool) -> list[Action]:
        call.ephemeral = None  # its work is done: forward secrecy for the call's keys
        call.media, call.last_media = True, now
        info = self._set(call, state=CallState.CONNECTED, connected_at=now, sas=secrets.words)
        return [StateChanged(info), SasReady(info.call_id, secrets.words),
                StartMedia(info.call_id, info.number, secrets.for_side(caller=caller),
                           info.codec)]

    def _end(self, now: float, reason: str, *, send: str | None = None, warning: str = "",
             logged: bool = True) -> list[Action]:
        call = self._call
        assert call is not None
        self._call = None
        self._remember(call.info.call_id)
        info = replace(call.info, state=CallState.ENDED, reason=reason, ended_at=now,
                       warning=warning or call.info.warning)
        actions: list[Action] = []
        if send is not None and info.plain:
            from phone_tui.handset import plaincall

            actions.append(plaincall.clearing(info, send))
        elif send is not None:
            actions.append(Send(info.number, CallPayload(send, info.call_id, now)))
        if call.media:
            actions.append(StopMedia(info.call_id))
        actions.append(StateChanged(info))
        if logged:
            duration = now - info.connected_at if info.connected_at is not None else 0.0
            actions.append(Log(CallLogEntry(info.call_id, info.number, info.name,
                                            info.direction, _outcome(info), info.started_at,
                                            round(duration, 3), info.verified, reason,
                                            info.plain)))
        return actions

    def _need(self, state: CallState, direction: str | None, refusal: str) -> _Call:
        call = self._call
        if call is None or call.info.state is not state or (
                direction is not None and call.info.direction != direction):
            raise CallError(refusal)
        return call

    @staticmethod
    def _set(call: _Call, **changes: Any) -> CallInfo:
        call.info = replace(call.info, **changes)
        return call.info

    def _remember(self, call_id: str) -> None:
        self._ended[call_id] = None
        self._ended.move_to_end(call_id)
        while len(self._ended) > ENDED_CALLS:
            self._ended.popitem(last=False)

    def _may_tell_busy(self, number: str, now: float) -> bool:
        told = self._busy_told.get(number)
        if told is not None and now - told < BUSY_EVERY_S:
            return False
        self._busy_told[number] = now
        self._busy_told.move_to_end(number)
        while len(self._busy_told) > BUSY_NUMBERS:
            self._busy_told.popitem(last=False)
        return True


def _outcome(info: CallInfo) -> str:
    if info.connected_at is not None:
        return info.direction
    if info.direction == "outgoing":
        return "failed" if info.reason in _FAILED else "outgoing"
    if info.reason == "declined":
        return "declined"
    if info.reason in ("missed", "no_answer", "cancelled"):
        return "missed"
    return "failed"


# ---- events ------------------------------------------------------------------------------------


class CallStateChanged(Event):
    call_id: str
    number: str
    direction: str
    state: str
    reason: str


class CallSasReady(Event):
    call_id: str
    words: tuple[str, str]

    def __repr__(self) -> str:  # the words are for the screen, not for logs
        return f"CallSasReady(persona={self.persona!r}, call_id={self.call_id!r})"


class CallVerified(Event):
    call_id: str
    match: bool


class CallStatsUpdated(Event):
    call_id: str


class CallControlChanged(Event):
    call_id: str


# ---- the shell ---------------------------------------------------------------------------------


class Media(Protocol):
    """A call's media session (media/stream.py's MediaSession, or a test's fake)."""

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def receive(self, packet: bytes) -> None: ...

    def stats(self) -> Any: ...


# keys (the fields of media.stream.MediaKeys), codec name, peer number -> a media session
MediaFactory = Callable[[Any, str, str], Media]


class _NoMedia:
    """Media for a build without phone_tui.media: nothing sent or heard."""

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def receive(self, packet: bytes) -> None: ...

    def stats(self) -> None:
        return None


def no_media(_keys: Any, _codec: str, _peer: str) -> Media:
    return _NoMedia()


MAX_CALL_LOG = 1000  # calls kept in the log, newest first
MAX_RECORD_NAMES = 100  # "-2", "-3"... tried when a recording's name is taken


def stream_media_factory(modem: Any, audio: CallAudio | None = None) -> MediaFactory:
    """Media sessions over ``modem``'s voice frames (media/stream.py's MediaSession): with
    ``audio``, real encoded speech (PyAV, imported at the first call); without, frames of the
    codec's size that carry nothing (deterministic runs)."""
    from phone_tui.media.codecs import load_codecs
    from phone_tui.media.stream import MediaSession, NullAudio

    def make(keys: Any, codec: str, peer: str) -> Media:
        codecs = load_codecs()
        profile = codecs.get(codec) or codecs[DEFAULT_CODEC]
        loop = asyncio.get_running_loop()
        sound: Any = NullAudio(profile)
        if audio is not None:
            sound = _open_audio(profile, audio, peer)
        return MediaSession(keys=keys, codec=profile,  # type: ignore[no-any-return]
                            send=lambda packet: modem.send_voice(peer, packet),
                            audio=sound, now=loop.time)

    return make


def _open_audio(profile: Any, audio: CallAudio, peer: str) -> Any:
    """The call's audio, or no audio (said in the log) when it cannot open: a call goes on
    without sound rather than not at all."""
    import time as _time

    from phone_tui.errors import PhoneTuiError
    from phone_tui.media.audio import open_audio
    from phone_tui.media.stream import NullAudio

    if audio.record is not None:
        stamp = _time.strftime("%Y%m%d-%H%M%S")
        base = (f"{stamp}-{_digits(audio.owner) or 'phone'}-hears-"
                f"{_digits(peer) or 'peer'}")
        for attempt in range(1, MAX_RECORD_NAMES + 1):
            name = base + (f"-{attempt}" if attempt > 1 else "") + ".wav"
            try:
                return open_audio(profile, voice=audio.voice, record=audio.record / name)
            except PhoneTuiError as problem:
                if isinstance(problem.__cause__, FileExistsError):
                    continue  # a call a moment ago, or a file someone put there: the next name
                log.error("this call is not recorded (%s)", problem)
                break
        else:
            log.error("this call is not recorded: %d names in a row are taken in %s",
                      MAX_RECORD_NAMES, audio.record)
    try:
        return open_audio(profile, voice=audio.voice, record=None)
    except PhoneTuiError as problem:
        log.error("call audio could not open (%s): the call goes on without sound", problem)
        return NullAudio(profile)


def _digits(number: str) -> str:
    return "".join(ch for ch in number if ch.isdigit())


class CallService:
    """One persona's calls over its Messenger (one per handset persona while unlocked, and one
    per bot). Registers itself as the messenger's call handler."""

    def __init__(self, messenger: Messenger, *, media_factory: MediaFactory | None = None,
                 codec: str = DEFAULT_CODEC, no_answer_s: float = NO_ANSWER_S,
                 media_timeout_s: float | None = MEDIA_TIMEOUT_S) -> None:
        self.messenger = messenger
        self.codec = codec
        self.media_factory: MediaFactory = media_factory or no_media
        self.machine = CallMachine(identity=messenger.identity.public_dh,
                                   no_answer_s=no_answer_s, media_timeout_s=media_timeout_s)
        self.locked_ring = False  # the next offer rang a locked phone (handset sets it)
        # Whether matching words may verify the contact now: not on a phone open for the
        # call only (whoever holds it has not opened it), the handset says.
        self.may_verify_contact: Callable[[], bool] = lambda: True
        self._media: Media | None = None
        self._media_received = -1
        self._media_heard: float | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._closed = False
        # Whether this OS has plain carrier calls (the Open OS; device.toml's plain_calls): a
        # SETUP from the switch is refused without.
        self.plain_calls = False
        messenger.calls = self

    @property
    def current(self) -> CallInfo | None:
        return self.machine.current

    @property
    def stats(self) -> Any:
        """The media session's CallStats (None without a connected call or media stats)."""
        if self._media is None:
            return None
        try:
            return self._media.stats()
        except Exception:  # noqa: BLE001 - stats are for show
            return None

    @property
    def heard(self) -> str | None:
        """The last words the other side said (a bot reads its two words aloud)."""
        heard = getattr(self._media, "heard", None)
        return heard if isinstance(heard, str) else None

    def say(self, words: str) -> None:
        """Say ``words`` on the call (what reading the two words aloud is in the emulator)."""
        say = getattr(self._media, "say", None)
        if say is not None:
            say(words)

    @property
    def level(self) -> float | None:
        """The level of what is heard now (dBFS; None without audio or media)."""
        return getattr(self._media, "level", None)

    def _now(self) -> float:
        return self.messenger.clock.now()

    # ---- the user's actions ------------------------------------------------------------------

    def dial(self, number: str) -> CallInfo:
        """Call ``number``; raises CallError when that cannot be done now."""
        from phone_tui.handset.messenger import IdentityChangedError, MessengerError, SendBlocked

        messenger = self.messenger
        if self.current is not None:
            raise CallError("You are already in a call. Hang up first.")
        if number == messenger.number:
            raise CallError("You cannot call your own number.")
        if not messenger.modem.in_service:
            raise CallError("No service: calls need the cellular network.")
        contact = messenger.contact(number)
        if contact is not None and contact.new_identity is not None:
            messenger.events.emit(SendBlocked(messenger.persona, number))
            raise CallError(f"The safety number with {contact.name} changed. Verify and accept "
                            "it before calling.")
        entropy = messenger.entropy
        call_id = str(uuid.UUID(bytes=entropy.token_bytes(16)))
        ephemeral = ephemeral_from(entropy.token_bytes(32))
        name = contact.name if contact is not None else number
        actions = self.machine.dial(self._now(), call_id=call_id, number=number, name=name,
                                    ephemeral=ephemeral, codec=self.codec)
        try:
            self._run(actions, strict=True)
        except IdentityChangedError:
            self.machine.discard()
            messenger.events.emit(SendBlocked(messenger.persona, number))
            raise CallError(f"The safety number with {name} changed. Verify and accept it "
                            "before calling.") from None
        except MessengerError as problem:
            self.machine.discard()
            raise CallError(f"This call cannot be made: {problem}") from None
        info = self.current
        assert info is not None
        return info

    def place_plain(self, number: str) -> CallInfo:
        """A plain carrier call to ``number`` (not end-to-end encrypted: set up by the carrier's
        switch, which can listen); raises CallError when that cannot be done now."""
        messenger = self.messenger
        if not self.plain_calls:
            raise CallError("This phone has no carrier calls: its calls are end-to-end "
                            "encrypted only.")
        if self.current is not None:
            raise CallError("You are already in a call. Hang up first.")
        if number == messenger.number:
            raise CallError("You cannot call your own number.")
        if not messenger.modem.in_service:
            raise CallError("No service: calls need the cellular network.")
        contact = messenger.contact(number)
        name = contact.name if contact is not None else number
        actions = self.machine.dial_plain(self._now(), ref=messenger.entropy.token_bytes(16),
                                          number=number, name=name, codec=self.codec)
        self._run(actions)
        info = self.current
        assert info is not None
        return info

    def on_cc(self, envelope: Any) -> None:
        """A CC envelope from the carrier's switch (modem.on_cc): hostile, checked here."""
        from phone_tui.modem.cc import CcError, decode_cc

        try:
            message = decode_cc(envelope.body)
        except CcError as problem:
            log.debug("dropped call control from the network: %s", problem)
            return
        contact = self.messenger.contact(envelope.src)
        name = contact.name if contact is not None else envelope.src
        self._run(self.machine.receive_cc(self._now(), envelope.src, message, name=name,
                                          allowed=self.plain_calls))

    def answer(self) -> None:
        self._run(self.machine.answer(self._now(),
                                      ephemeral_from(self.messenger.entropy.token_bytes(32))))

    def decline(self) -> None:
        self._run(self.machine.decline(self._now()))

    def hangup(self) -> None:
        self._run(self.machine.hangup(self._now()))

    def confirm_sas(self, match: bool) -> None:
        self._run(self.machine.confirm_sas(self._now(), match))

    def set_mute(self, on: bool) -> None:
        self._run(self.machine.set_controls(self._now(), muted=on))
        self._media_attr("mute", on)

    def set_speaker(self, on: bool) -> None:
        self._run(self.machine.set_controls(self._now(), speaker=on))
        self._media_attr("speaker", on)

    def set_hold(self, on: bool) -> None:
        self._run(self.machine.set_controls(self._now(), held=on))
        self._media_attr("hold", on)

    def fail(self, reason: str) -> None:
        """End the call under way for ``reason`` (one of END_REASONS)."""
        self._run(self.machine.fail(self._now(), reason))

    def close(self) -> None:
        """The persona locks or the phone stops: a call under way is hung up."""
        if self.current is not None:
            self.hangup()
        self._closed = True
        self._cancel_timer()
        if self.messenger.calls is self:
            self.messenger.calls = None

    def log(self, limit: int = 100) -> list[CallLogEntry]:
        """The call log, newest first. A reason the store holds that this version does not know
        (a newer phone-tui wrote it, or the file was altered) reads as "" (not known)."""
        rows = self.messenger.store.execute(
            "SELECT call_id, number, direction, outcome, at, duration_s, verified, reason, "
            "plain FROM calls ORDER BY at DESC, id DESC LIMIT ?", (limit,)).fetchall()
        out = []
        for call_id, number, direction, outcome, at, duration, verified, reason, plain in rows:
            contact = self.messenger.contact(number)
            out.append(CallLogEntry(call_id, number, contact.name if contact else number,
                                    direction, outcome, at, duration, verified,
                                    reason if reason in END_REASONS else "", bool(plain)))
        return out

    # ---- from the messenger (inside its batch) and the modem ---------------------------------

    def on_call_signal(self, sender: str, payload: CallPayload) -> None:
        contact = self.messenger.contact(sender)
        name = contact.name if contact is not None else sender
        identity = None if contact is None else (contact.new_identity or contact.identity)
        warning = ""
        if contact is not None and contact.new_identity is not None:
            warning = f"The safety number with {name} changed."
        locked = self.locked_ring and payload.op == "offer"
        actions = self.machine.receive(self._now(), sender, payload, name=name,
                                       peer_identity=identity, warning=warning, locked=locked)
        self._run(actions)

    def on_call_state(self, number: str, call_id: str, op: str, state: str,
                      reason: str) -> None:
        self._run(self.machine.report(self._now(), number, call_id, op, state, reason))

    def on_voice(self, src: str, packet: bytes) -> None:
        """A voice frame from the network: only the peer's reach the media session."""
        current, media = self.current, self._media
        if media is None or current is None or src != current.number:
            return
        media.receive(packet)

    def tick(self) -> None:
        """Run the timeouts (also scheduled on the loop); while connected, tell the stats."""
        if self._closed:
            return
        now = self._now()
        self._watch_media(now)
        self._run(self.machine.tick(now), schedule=False)
        current = self.current
        if current is not None and current.state is CallState.CONNECTED:
            self.messenger.emit(CallStatsUpdated(self.messenger.persona, current.call_id))
        self._schedule()

    # ---- carrying actions out ----------------------------------------------------------------

    def _run(self, actions: list[Action], *, strict: bool = False,
             schedule: bool = True) -> None:
        from phone_tui.handset.messenger import MessengerError

        if not actions:
            return
        messenger, persona = self.messenger, self.messenger.persona
        ended: CallInfo | None = None
        with messenger.batch():
            for action in actions:
                if isinstance(action, Send):
                    try:
                        messenger.send_call(action.number, action.payload)
                    except MessengerError as problem:
                        if strict:
                            raise
                        log.info("call signalling (%s) not sent: %s", action.payload.op,
                                 problem)
                elif isinstance(action, SendCc):
                    messenger.modem.send_cc(action.number, action.message.encode())
                elif isinstance(action, StateChanged):
                    info = action.info
                    messenger.emit(CallStateChanged(persona, info.call_id, info.number,
                                                    info.direction, info.state.value,
                                                    info.reason))
                    if info.state is CallState.ENDED:
                        ended = info
                elif isinstance(action, ControlChanged):
                    messenger.emit(CallControlChanged(persona, action.info.call_id))
                elif isinstance(action, SasReady):
                    messenger.emit(CallSasReady(persona, action.call_id, action.words))
                elif isinstance(action, Verified):
                    messenger.emit(CallVerified(persona, action.call_id, action.match))
                    if action.match:
                        self._verify_contact(action.number, action.peer_identity)
                elif isinstance(action, StartMedia):
                    self._start_media(action)
                elif isinstance(action, StopMedia):
                    self._stop_media()
                elif isinstance(action, Log):
                    entry = action.entry
                    messenger.store.execute(
                        "INSERT OR IGNORE INTO calls (call_id, number, direction, outcome, at, "
                        "duration_s, verified, reason, plain) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (entry.call_id, entry.number, entry.direction, entry.outcome,
                         entry.at, entry.duration_s, entry.verified, entry.reason,
                         int(entry.plain)))
                    # Bounded: a flood of stale offers (each a missed call) cannot grow it.
                    messenger.store.execute(
                        "DELETE FROM calls WHERE id NOT IN (SELECT id FROM calls ORDER BY "
                        "at DESC, id DESC LIMIT ?)", (MAX_CALL_LOG,))
        if ended is not None:
            log.info("call %s with %s ended: %s", ended.direction, ended.number, ended.reason)
        if schedule:
            self._schedule()

    def _verify_contact(self, number: str, identity: bytes | None) -> None:
        """The words matched: the two identity keys they were bound to are the two phones'
        own (a man in the middle, with his keys on each leg, matches by chance once in 65 536
        calls, and the hash commitment gives him one try per call), so the contact's safety
        number is verified, as by comparing it. Only if the key the words were bound to is
        still the contact's own (a changed number is met at the next message, not trusted)."""
        messenger = self.messenger
        if not self.may_verify_contact():
            log.info("words matched on a phone open for the call only: the contact is as it was")
            return
        contact = messenger.contact(number)
        if identity is None or contact is None or contact.verified \
                or contact.new_identity is not None or contact.identity is None \
                or not hmac.compare_digest(contact.identity, identity):
            return
        messenger.mark_verified(number, "Safety number verified: the words of a call matched.")
        log.info("a contact verified by a call's words")

    def _start_media(self, action: StartMedia) -> None:
        self._stop_media()
        from phone_tui.media.stream import MediaKeys

        side = action.keys
        if side is None:  # a plain call: no keys, the media goes unsealed (media/plain.py)
            send_ssrc, recv_ssrc = action.plain_ssrcs or (1, 2)
            keys = MediaKeys(b"", b"", send_ssrc, b"", b"", recv_ssrc)
        else:
            keys = MediaKeys(side.send_key, side.send_salt, side.send_ssrc, side.recv_key,
                             side.recv_salt, side.recv_ssrc)
        self._media = self.media_factory(keys, action.codec, action.number)
        self._media_received = -1
        self._media_heard = None
        self._media.start()

    def _stop_media(self) -> None:
        media, self._media = self._media, None
        if media is not None:
            try:
                media.stop()
            except Exception:  # noqa: BLE001 - a call ends whatever its media does
                log.exception("a call's media did not stop cleanly")

    def _media_attr(self, name: str, value: bool) -> None:
        media = self._media
        if media is not None and hasattr(media, name):
            with contextlib.suppress(AttributeError, TypeError):
                setattr(media, name, value)

    def _watch_media(self, now: float) -> None:
        """Media stats that count frames received say whether the peer is heard; media with
        no such count (a fake, no media) never ends a call for silence."""
        stats = self.stats
        received = getattr(stats, "received", None)
        if not isinstance(received, int) or isinstance(received, bool):
            self.machine.media_alive(now)
            return
        # Any authentic packet keeps the call alive: on hold no voice goes either way, but
        # the once-a-second reports do (a hold of any length is not a network failure).
        heard = getattr(self._media, "last_heard", None)
        if isinstance(heard, float) and heard != self._media_heard:
            self._media_heard = heard
            self.machine.media_alive(now)
        if received != self._media_received:
            self._media_received = received
            self.machine.media_alive(now)
        remote_held = getattr(stats, "remote_held", None)
        current = self.current
        if isinstance(remote_held, bool) and current is not None and (
                current.state is CallState.CONNECTED and current.remote_held != remote_held):
            self._run(self.machine.set_controls(now, remote_held=remote_held), schedule=False)

    def _schedule(self) -> None:
        self._cancel_timer()
        if self._closed or self.current is None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop (a unit test): tick() is called by hand
        deadline = self.machine.next_deadline()
        delay = 1.0 if deadline is None else min(1.0, max(0.0, deadline - self._now()))
        self._timer = loop.call_later(max(delay, 0.05), self.tick)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
