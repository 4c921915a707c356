"""The call state machine (sans-IO): every transition and end reason, with times as numbers."""

from __future__ import annotations

import json

import pytest

from phone_tui.crypto.zrtp import ephemeral_from
from phone_tui.handset.calls import (
    BUSY_EVERY_S,
    END_REASONS,
    CallError,
    CallMachine,
    CallState,
    ControlChanged,
    Log,
    SasReady,
    Send,
    StartMedia,
    StateChanged,
    StopMedia,
    Verified,
)
from phone_tui.handset.payloads import CallPayload, parse

A, B, C = "+1", "+2", "+3"
IDS = {A: b"\xaa" * 32, B: b"\xbb" * 32, C: b"\xcc" * 32}
LOW = "00000000-0000-4000-8000-000000000001"
HIGH = "ffffffff-0000-4000-8000-000000000001"
T0 = 1_000_000.0


def eph(n: int):
    return ephemeral_from(bytes([n]) * 32)


def sends(actions) -> list[CallPayload]:
    return [a.payload for a in actions if isinstance(a, Send)]


def states(actions) -> list[tuple[str, str]]:
    return [(a.info.state.value, a.info.reason) for a in actions if isinstance(a, StateChanged)]


def logs(actions):
    return [a.entry for a in actions if isinstance(a, Log)]


def wire(payload: CallPayload) -> CallPayload:
    """Through the schema, as the messenger hands it over."""
    parsed = parse(json.dumps(payload.to_dict()).encode())
    assert isinstance(parsed, CallPayload)
    return parsed


class Pair:
    """Two phones' machines; ``deliver`` hands one side's sends to the other."""

    def __init__(self) -> None:
        self.m = {A: CallMachine(identity=IDS[A]), B: CallMachine(identity=IDS[B])}
        self.out: dict[str, list[CallPayload]] = {A: [], B: []}
        self.seen: dict[str, list] = {A: [], B: []}

    def act(self, number: str, actions):
        self.seen[number] += actions
        self.out[number] += sends(actions)
        return actions

    def deliver(self, src: str, now: float, *, count: int | None = None):
        dst = B if src == A else A
        queue, self.out[src] = self.out[src], []
        got = []
        for payload in queue[:count]:
            got += self.act(dst, self.m[dst].receive(now, src, wire(payload), name=src,
                                                     peer_identity=IDS[src]))
        self.out[src] = queue[count:] if count is not None else []
        return got

    def dial(self, now=T0, call_id=LOW):
        return self.act(A, self.m[A].dial(now, call_id=call_id, number=B, name="Bob",
                                          ephemeral=eph(1)))

    def connect(self, now=T0):
        self.dial(now)
        self.deliver(A, now + 1)  # offer: Bob rings
        self.act(A, self.m[A].report(now + 1, B, LOW, "offer", "delivered", ""))
        self.act(B, self.m[B].answer(now + 5, eph(2)))
        self.deliver(B, now + 6)  # answer: Alice connects, reveals
        self.deliver(A, now + 7)  # reveal: Bob connects


def test_a_call_connects_through_every_state_with_equal_words_and_matching_keys():
    pair = Pair()
    dialled = pair.dial()
    assert states(dialled) == [("dialing", "")]
    assert [p.op for p in sends(dialled)] == ["offer"]
    assert len(sends(dialled)[0].commit) == 32 and sends(dialled)[0].codec == "opus-16k"
    rang = pair.deliver(A, T0 + 1)
    assert states(rang) == [("ringing", "")]
    assert pair.m[B].current.direction == "incoming" and pair.m[B].current.name == A
    assert states(pair.m[A].report(T0 + 1, B, LOW, "offer", "sent", "")) == []
    assert states(pair.m[A].report(T0 + 1, B, LOW, "offer", "delivered", "")) == [
        ("ringing", "")]
    answered = pair.act(B, pair.m[B].answer(T0 + 5, eph(2)))
    assert states(answered) == [("connecting", "")]
    assert [p.op for p in sends(answered)] == ["answer"]
    caller = pair.deliver(B, T0 + 6)
    assert [p.op for p in sends(caller)] == ["reveal"]
    assert states(caller) == [("connected", "")]
    callee = pair.deliver(A, T0 + 7)
    assert states(callee) == [("connected", "")]
    words_a = [a.words for a in caller if isinstance(a, SasReady)]
    words_b = [a.words for a in callee if isinstance(a, SasReady)]
    assert words_a == words_b and len(words_a[0]) == 2
    keys_a = next(a.keys for a in caller if isinstance(a, StartMedia))
    keys_b = next(a.keys for a in callee if isinstance(a, StartMedia))
    assert keys_a.send_key == keys_b.recv_key and keys_a.recv_key == keys_b.send_key
    assert keys_a.send_ssrc == keys_b.recv_ssrc
    assert pair.m[A].current.sas == pair.m[B].current.sas == words_a[0]
    assert pair.m[A].current.connected_at == T0 + 6


def test_hangup_after_connecting_ends_both_sides_and_logs_the_duration():
    pair = Pair()
    pair.connect()
    ended = pair.act(A, pair.m[A].hangup(T0 + 67))
    assert states(ended) == [("ended", "hung_up")]
    assert any(isinstance(a, StopMedia) for a in ended)
    assert logs(ended)[0].outcome == "outgoing" and logs(ended)[0].duration_s == 61.0
    remote = pair.deliver(A, T0 + 68)
    assert states(remote) == [("ended", "remote_hung_up")]
    assert logs(remote)[0].outcome == "incoming" and logs(remote)[0].duration_s == 61.0
    assert pair.m[A].current is None and pair.m[B].current is None


def test_a_hangup_before_the_answer_cancels_and_the_callee_logs_a_missed_call():
    pair = Pair()
    pair.dial()
    pair.deliver(A, T0 + 1)
    ended = pair.act(A, pair.m[A].hangup(T0 + 10))
    assert states(ended) == [("ended", "cancelled")]
    assert [p.op for p in sends(ended)] == ["hangup"]
    assert logs(ended)[0].outcome == "outgoing" and logs(ended)[0].duration_s == 0
    remote = pair.deliver(A, T0 + 11)
    assert states(remote) == [("ended", "missed")]
    assert logs(remote)[0].outcome == "missed"


def test_declining_sends_a_reject_and_the_caller_hears_declined():
    pair = Pair()
    pair.dial()
    pair.deliver(A, T0 + 1)
    ended = pair.act(B, pair.m[B].decline(T0 + 3))
    assert states(ended) == [("ended", "declined")]
    assert [p.op for p in sends(ended)] == ["reject"]
    assert logs(ended)[0].outcome == "declined"
    caller = pair.deliver(B, T0 + 4)
    assert states(caller) == [("ended", "declined")]


def test_hanging_up_a_ringing_incoming_call_declines_it():
    pair = Pair()
    pair.dial()
    pair.deliver(A, T0 + 1)
    assert states(pair.m[B].hangup(T0 + 2)) == [("ended", "declined")]


def test_no_answer_after_45_seconds_ends_the_call_on_both_sides():
    pair = Pair()
    pair.dial()
    pair.deliver(A, T0 + 1)
    assert pair.m[A].next_deadline() == T0 + 45
    assert pair.m[A].tick(T0 + 44.9) == []
    caller = pair.act(A, pair.m[A].tick(T0 + 45))
    assert states(caller) == [("ended", "no_answer")]
    assert [p.op for p in sends(caller)] == ["hangup"]
    callee = pair.m[B].tick(T0 + 46)
    assert states(callee) == [("ended", "no_answer")]
    assert sends(callee) == [] and logs(callee)[0].outcome == "missed"
    assert pair.deliver(A, T0 + 47) == []  # the caller's hangup: that call is over already


def test_an_answer_that_never_completes_fails_after_the_connect_timeout():
    pair = Pair()
    pair.dial()
    pair.deliver(A, T0 + 1)
    pair.act(B, pair.m[B].answer(T0 + 2, eph(2)))
    assert pair.m[B].tick(T0 + 16) == []
    ended = pair.m[B].tick(T0 + 17)
    assert states(ended) == [("ended", "network_failure")]
    assert logs(ended)[0].outcome == "failed"


def test_no_media_for_15_seconds_is_a_network_failure():
    pair = Pair()
    pair.connect()
    pair.m[A].media_alive(T0 + 20)
    assert pair.m[A].tick(T0 + 34) == []
    assert pair.m[A].next_deadline() == T0 + 35
    assert states(pair.m[A].tick(T0 + 35)) == [("ended", "network_failure")]


def test_busy_when_in_a_call_replies_busy_logs_a_missed_call_and_the_caller_hears_busy():
    pair = Pair()
    pair.connect()
    carol = CallMachine(identity=IDS[C])
    offer = sends(carol.dial(T0 + 10, call_id=HIGH, number=B, name="Bob", ephemeral=eph(3)))
    got = pair.m[B].receive(T0 + 11, C, wire(offer[0]), name="Carol", peer_identity=IDS[C])
    assert [p.op for p in sends(got)] == ["busy"]
    assert logs(got)[0].outcome == "missed" and logs(got)[0].number == C
    assert pair.m[B].current.number == A  # the call under way goes on
    heard = carol.receive(T0 + 12, B, wire(sends(got)[0]), name="Bob", peer_identity=IDS[B])
    assert states(heard) == [("ended", "busy")] and logs(heard)[0].outcome == "outgoing"


def test_a_flood_of_offers_while_busy_gets_one_busy_reply_per_interval():
    pair = Pair()
    pair.connect()
    replies = 0
    for n in range(200):
        call_id = f"{n:08x}-0000-4000-8000-000000000002"
        offer = CallPayload("offer", call_id, T0 + 10, commit=b"\x01" * 32, codec="opus-16k")
        replies += len(sends(pair.m[B].receive(T0 + 10 + n * 0.01, C, offer, name="C",
                                               peer_identity=IDS[C])))
    assert replies == 1
    assert len(pair.m[B]._ended) <= 256
    later = CallPayload("offer", "abcdef00-0000-4000-8000-000000000002", T0 + 20,
                        commit=b"\x01" * 32, codec="opus-16k")
    assert len(sends(pair.m[B].receive(T0 + 10 + BUSY_EVERY_S + 3, C, later, name="C",
                                       peer_identity=IDS[C]))) == 1


@pytest.mark.parametrize("a_id,b_id", [(LOW, HIGH), (HIGH, LOW)])
def test_glare_both_dial_each_other_and_the_lower_call_id_is_kept(a_id, b_id):
    pair = Pair()
    pair.dial(call_id=a_id)
    pair.act(B, pair.m[B].dial(T0, call_id=b_id, number=A, name="Alice", ephemeral=eph(2)))
    at_b = pair.deliver(A, T0 + 1)
    at_a = pair.deliver(B, T0 + 1)
    kept = min(a_id, b_id)
    assert pair.m[A].current.call_id == pair.m[B].current.call_id == kept
    winner, loser = (A, B) if kept == a_id else (B, A)
    assert pair.m[winner].current.direction == "outgoing"
    assert pair.m[loser].current.direction == "incoming"
    assert pair.m[loser].current.state is CallState.RINGING
    assert [p.op for p in sends(at_a) + sends(at_b)] == []  # no busy either way
    assert logs(at_a) + logs(at_b) == []  # the dropped call is no call in the log
    # and the kept call connects
    pair.act(loser, pair.m[loser].answer(T0 + 3, eph(5)))
    pair.deliver(loser, T0 + 4)
    pair.deliver(winner, T0 + 5)
    assert pair.m[A].current.state is pair.m[B].current.state is CallState.CONNECTED
    assert pair.m[A].current.sas == pair.m[B].current.sas


def test_duplicated_and_replayed_signals_change_nothing():
    pair = Pair()
    pair.dial()
    offer = list(pair.out[A])
    pair.deliver(A, T0 + 1)
    for payload in offer:  # the same offer again
        assert pair.m[B].receive(T0 + 2, A, wire(payload), name=A, peer_identity=IDS[A]) == []
    pair.act(B, pair.m[B].answer(T0 + 3, eph(2)))
    answer = list(pair.out[B])
    pair.deliver(B, T0 + 4)
    for payload in answer:  # a second answer after connecting
        assert pair.m[A].receive(T0 + 5, B, wire(payload), name=B, peer_identity=IDS[B]) == []
    reveal = list(pair.out[A])
    pair.deliver(A, T0 + 6)
    for payload in reveal:
        assert pair.m[B].receive(T0 + 7, A, wire(payload), name=A, peer_identity=IDS[A]) == []
    pair.act(A, pair.m[A].hangup(T0 + 10))
    pair.deliver(A, T0 + 11)
    for payload in offer:  # the old offer once the call ended: no ringing
        assert pair.m[B].receive(T0 + 12, A, wire(payload), name=A, peer_identity=IDS[A]) == []
    assert pair.m[B].current is None


def test_out_of_order_signals_are_dropped():
    pair = Pair()
    pair.dial()
    pair.deliver(A, T0 + 1)
    early_reveal = CallPayload("reveal", LOW, T0, key=b"\x09" * 32)
    assert pair.m[B].receive(T0 + 2, A, early_reveal, name=A, peer_identity=IDS[A]) == []
    assert pair.m[B].current.state is CallState.RINGING
    stray_answer = CallPayload("answer", LOW, T0, key=b"\x09" * 32)
    assert pair.m[B].receive(T0 + 2, A, stray_answer, name=A, peer_identity=IDS[A]) == []


def test_a_hangup_that_overtakes_its_offer_keeps_the_offer_from_ringing():
    pair = Pair()
    pair.dial()
    offer = pair.out[A]
    pair.out[A] = []
    pair.act(A, pair.m[A].hangup(T0 + 2))
    pair.deliver(A, T0 + 3)  # the hangup comes first
    pair.out[A] = offer
    assert pair.deliver(A, T0 + 4) == []
    assert pair.m[B].current is None


def test_a_signal_for_an_unknown_call_or_from_another_number_is_dropped():
    pair = Pair()
    pair.connect()
    other = "11111111-0000-4000-8000-000000000001"
    for op in ("answer", "reveal", "reject", "busy", "hangup"):
        key = b"\x05" * 32 if op in ("answer", "reveal") else None
        payload = CallPayload(op, other, T0, key=key)
        assert pair.m[A].receive(T0 + 8, B, payload, name=B, peer_identity=IDS[B]) == []
        same_id = CallPayload(op, LOW, T0, key=key)
        assert pair.m[A].receive(T0 + 8, C, same_id, name=C, peer_identity=IDS[C]) == []
    assert pair.m[A].current.state is CallState.CONNECTED
    assert pair.m[A].report(T0, B, other, "offer", "failed", "") == []


def test_an_offer_older_than_45_seconds_is_a_missed_call_without_ringing():
    pair = Pair()
    pair.dial(now=T0)
    got = pair.deliver(A, T0 + 46)
    assert states(got) == [] and logs(got)[0].outcome == "missed"
    assert logs(got)[0].at == T0
    assert pair.m[B].current is None


def test_the_revealed_key_must_match_the_commitment():
    pair = Pair()
    pair.dial()
    pair.deliver(A, T0 + 1)
    pair.act(B, pair.m[B].answer(T0 + 2, eph(2)))
    forged = CallPayload("reveal", LOW, T0 + 3, key=b"\x07" * 32)
    ended = pair.m[B].receive(T0 + 3, A, forged, name=A, peer_identity=IDS[A])
    assert states(ended) == [("ended", "network_failure")]
    assert [p.op for p in sends(ended)] == ["hangup"]
    assert "committed" in pair.seen[B][-1].info.warning or any(
        "committed" in a.info.warning for a in ended if isinstance(a, StateChanged))
    assert not any(isinstance(a, StartMedia) for a in ended)


def test_a_man_in_the_middle_on_each_leg_shows_different_words():
    """Mallory answers Alice as "Bob" and calls Bob as "Alice", with her own keys each way."""
    alice, bob = CallMachine(identity=IDS[A]), CallMachine(identity=IDS[B])
    m_to_a, m_to_b = CallMachine(identity=IDS[C]), CallMachine(identity=IDS[C])
    offer = sends(alice.dial(T0, call_id=LOW, number=B, name="Bob", ephemeral=eph(1)))[0]
    m_to_a.receive(T0, A, wire(offer), name=A, peer_identity=IDS[A])
    relay = sends(m_to_b.dial(T0, call_id=LOW, number=B, name="Bob", ephemeral=eph(9)))[0]
    bob.receive(T0, C, wire(relay), name=A, peer_identity=IDS[C])
    answer_b = sends(bob.answer(T0 + 1, eph(2)))[0]
    reveal_m = sends(m_to_b.receive(T0 + 1, B, wire(answer_b), name=B, peer_identity=IDS[B]))
    got_b = bob.receive(T0 + 2, C, wire(reveal_m[0]), name=A, peer_identity=IDS[C])
    answer_m = sends(m_to_a.answer(T0 + 1, eph(8)))[0]
    got_a = alice.receive(T0 + 2, B, wire(answer_m), name=B, peer_identity=IDS[B])
    assert alice.current.state is bob.current.state is CallState.CONNECTED
    words_a = next(a.words for a in got_a if isinstance(a, SasReady))
    words_b = next(a.words for a in got_b if isinstance(a, SasReady))
    assert words_a != words_b


def test_confirming_the_words_records_match_and_differ_ends_the_call_with_a_warning():
    pair = Pair()
    pair.connect()
    matched = pair.m[A].confirm_sas(T0 + 8, True)
    assert [a.match for a in matched if isinstance(a, Verified)] == [True]
    assert any(isinstance(a, ControlChanged) for a in matched)
    assert pair.m[A].current.verified == "match"
    differ = pair.act(B, pair.m[B].confirm_sas(T0 + 8, False))
    assert states(differ) == [("ended", "words_differ")]
    assert [p.op for p in sends(differ)] == ["differ"]  # a hangup that says why
    assert logs(differ)[0].verified == "differ" and logs(differ)[0].outcome == "incoming"
    assert "differ" in next(a.info.warning for a in differ if isinstance(a, StateChanged))
    # The other phone is warned too (from the new-user review: it only heard "hung up").
    told = pair.deliver(B, T0 + 9)
    assert states(told) == [("ended", "words_differ_remote")]
    assert "different words" in next(a.info.warning for a in told if isinstance(a, StateChanged))
    with pytest.raises(CallError):
        pair.m[A].confirm_sas(T0 + 10, True)


def test_network_reports_end_a_call_as_unavailable_or_failed():
    for state, reason, outcome in (("unavailable", "unavailable", "failed"),
                                   ("failed", "network_failure", "failed")):
        pair = Pair()
        pair.dial()
        ended = pair.m[A].report(T0 + 1, B, LOW, "offer", state, "")
        assert states(ended) == [("ended", reason)] and logs(ended)[0].outcome == outcome


def test_fail_ends_a_call_for_an_outside_reason():
    pair = Pair()
    pair.connect()
    ended = pair.m[A].fail(T0 + 9, "no_service")
    assert states(ended) == [("ended", "no_service")]
    assert pair.m[A].fail(T0 + 9, "no_service") == []


def test_controls_change_without_changing_the_state():
    pair = Pair()
    pair.connect()
    changed = pair.m[A].set_controls(T0 + 8, muted=True)
    assert [type(a) for a in changed] == [ControlChanged]
    assert pair.m[A].current.muted and pair.m[A].current.state is CallState.CONNECTED
    assert pair.m[A].set_controls(T0 + 8, muted=True) == []
    pair.m[A].set_controls(T0 + 8, held=True, speaker=True)
    assert pair.m[A].current.held and pair.m[A].current.speaker


def test_actions_that_do_not_fit_the_call_raise_call_errors():
    machine = CallMachine(identity=IDS[A])
    for action in (lambda: machine.answer(T0, eph(1)), lambda: machine.decline(T0),
                   lambda: machine.confirm_sas(T0, True),
                   lambda: machine.set_controls(T0, muted=True)):
        with pytest.raises(CallError):
            action()
    assert machine.hangup(T0) == []
    machine.dial(T0, call_id=LOW, number=B, name="B", ephemeral=eph(1))
    with pytest.raises(CallError):
        machine.dial(T0, call_id=HIGH, number=C, name="C", ephemeral=eph(2))
    with pytest.raises(CallError):
        machine.answer(T0, eph(3))  # an outgoing call is not answered here


def test_every_end_reason_is_reached():
    reached: set[str] = set()
    pair = Pair()
    pair.connect()
    reached |= {r for _s, r in states(pair.act(A, pair.m[A].hangup(T0 + 9)))}
    reached |= {r for _s, r in states(pair.deliver(A, T0 + 10))}
    for reason in ("no_service", "identity_changed"):
        pair = Pair()
        pair.dial()
        reached |= {r for _s, r in states(pair.m[A].fail(T0 + 1, reason))}
    pair = Pair()
    pair.dial()
    reached |= {r for _s, r in states(pair.m[A].report(T0, B, LOW, "offer", "unavailable", ""))}
    pair = Pair()
    pair.dial()
    reached |= {r for _s, r in states(pair.m[A].report(T0, B, LOW, "offer", "failed", ""))}
    pair = Pair()
    pair.dial()
    pair.deliver(A, T0)
    pair.act(B, pair.m[B].decline(T0 + 1))
    reached |= {r for _s, r in states(pair.deliver(B, T0 + 2))}
    pair = Pair()
    pair.dial()
    pair.deliver(A, T0)
    reached |= {r for _s, r in states(pair.act(A, pair.m[A].hangup(T0 + 1)))}
    reached |= {r for _s, r in states(pair.deliver(A, T0 + 2))}
    pair = Pair()
    pair.dial()
    reached |= {r for _s, r in states(pair.m[A].tick(T0 + 45))}
    pair = Pair()
    pair.connect()
    reached |= {r for _s, r in states(pair.act(A, pair.m[A].confirm_sas(T0 + 8, False)))}
    reached |= {r for _s, r in states(pair.deliver(A, T0 + 9))}
    pair = Pair()
    pair.dial()
    busy = CallPayload("busy", LOW, T0)
    reached |= {r for _s, r in states(pair.m[A].receive(T0, B, busy, name=B,
                                                       peer_identity=IDS[B]))}
    # A carrier call to a phone that takes none (the Secure OS): its switch's "not supported".
    from phone_tui.modem.cc import Cause, CcMessage, CcType

    machine = CallMachine(identity=IDS[A])
    ref = bytes(16)
    machine.dial_plain(T0, ref=ref, number=B, name=B, codec="opus")
    refused = CcMessage(CcType.RELEASE, ref, Cause.SERVICE_NOT_IMPLEMENTED)
    reached |= {r for _s, r in states(machine.receive_cc(T0 + 1, B, refused, name=B,
                                                        allowed=True))}
    assert reached == set(END_REASONS)


def test_every_logged_call_says_how_it_ended():
    """The log keeps the end reason (from the new-user review: it said only missed/failed)."""
    def ended_and_logged(actions) -> tuple[str, str]:
        (ended,) = [reason for state, reason in states(actions) if state == "ended"]
        (entry,) = logs(actions)
        return ended, entry.reason

    pair = Pair()
    pair.connect()
    assert ended_and_logged(pair.act(A, pair.m[A].hangup(T0 + 67))) == ("hung_up", "hung_up")
    assert ended_and_logged(pair.deliver(A, T0 + 68)) == ("remote_hung_up", "remote_hung_up")
    pair = Pair()
    pair.dial()
    pair.deliver(A, T0 + 1)
    assert ended_and_logged(pair.act(B, pair.m[B].decline(T0 + 3))) == ("declined", "declined")
    assert ended_and_logged(pair.deliver(B, T0 + 4)) == ("declined", "declined")
    pair = Pair()
    pair.connect()
    assert ended_and_logged(pair.act(B, pair.m[B].confirm_sas(T0 + 8, False))) == (
        "words_differ", "words_differ")
    assert ended_and_logged(pair.deliver(B, T0 + 9)) == ("words_differ_remote",
                                                         "words_differ_remote")
    pair = Pair()
    pair.dial()
    assert ended_and_logged(pair.m[A].fail(T0 + 1, "identity_changed")) == (
        "identity_changed", "identity_changed")
    # Missed while on another call: the caller heard "busy", the log says so.
    pair = Pair()
    pair.connect()
    carol = CallMachine(identity=IDS[C])
    offer = sends(carol.dial(T0 + 10, call_id=HIGH, number=B, name="Bob", ephemeral=eph(3)))
    got = pair.m[B].receive(T0 + 11, C, wire(offer[0]), name="Carol", peer_identity=IDS[C])
    assert [(e.outcome, e.reason) for e in logs(got)] == [("missed", "busy")]
    # An offer that stopped ringing before it came: missed.
    late = CallMachine(identity=IDS[B]).receive(T0 + 100, C, wire(offer[0]), name="Carol",
                                                peer_identity=IDS[C])
    assert [(e.outcome, e.reason) for e in logs(late)] == [("missed", "missed")]
    assert {"busy", "missed"} <= set(END_REASONS)
