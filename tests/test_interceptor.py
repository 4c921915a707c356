"""The presenter's man in the middle (F9) on the stage: the carrier in the middle of two phones
for good, reading their messages and bridging their calls with its own keys on each leg."""

from __future__ import annotations

import asyncio
import logging

import pytest
from test_stage import SEEDS, make_stage, on_air
from test_stage_app import unlock_all

from phone_tui.handset.calls import CallState, CallStateChanged
from phone_tui.handset.stage import StageError
from phone_tui.modem.frames import Envelope, EnvelopeKind
from phone_tui.testing import settle, wait_for


def ends(handset) -> list[str]:  # noqa: ANN001
    """The reasons the phone's calls ended with, in order."""
    return [e.reason for e in handset.events.history
            if isinstance(e, CallStateChanged) and e.state == "ended"]


def received(handset, number: str) -> list[str]:  # noqa: ANN001
    return [m.body for m in handset.messenger.history(number)
            if m.kind == "text" and not m.outgoing]


async def armed(tmp_path):  # noqa: ANN201
    stage = await on_air(make_stage(tmp_path))
    assert stage.impersonate(0) == "Director Wang"
    await asyncio.sleep(5)
    li, wang = stage.handsets
    return stage, li, wang


async def connected(stage, li, wang):  # noqa: ANN001
    """Li accepts the changed number and calls Wang, who answers (under the warning)."""
    li.messenger.accept_identity(wang.number)
    li.calls.dial(wang.number)
    await asyncio.sleep(3)
    ringing = wang.calls.current
    assert ringing.state is CallState.RINGING and "safety number" in ringing.warning
    assert li.calls.current.state is CallState.RINGING  # Wang's phone's report, passed on
    wang.calls.answer()
    await asyncio.sleep(3)
    return li.calls.current, wang.calls.current


@pytest.mark.looptime
async def test_without_the_man_in_the_middle_both_phones_show_the_same_words(tmp_path):
    stage = await on_air(make_stage(tmp_path))
    li, wang = stage.handsets
    assert stage.call(0) == "Director Wang"
    await asyncio.sleep(3)
    wang.calls.answer()
    await asyncio.sleep(3)
    a, b = li.calls.current, wang.calls.current
    assert a.state is b.state is CallState.CONNECTED
    assert a.sas is not None and a.sas == b.sas
    assert not b.warning


@pytest.mark.looptime
async def test_under_the_man_in_the_middle_both_calls_connect_and_the_words_differ(tmp_path):
    stage, li, wang = await armed(tmp_path)
    # Both phones were written to from a new key: both show a changed safety number.
    assert li.messenger.contact(wang.number).new_identity is not None
    assert wang.messenger.contact(li.number).new_identity is not None
    a, b = await connected(stage, li, wang)
    assert a.state is b.state is CallState.CONNECTED
    assert a.sas is not None and b.sas is not None and a.sas != b.sas
    await asyncio.sleep(3)
    # Media crosses the bridge both ways: opened with one leg's keys, sealed with the other's.
    assert li.calls.stats.received > 50 and wang.calls.stats.received > 50
    interceptor = stage.interceptor
    assert interceptor.stats.calls == 1 and interceptor.stats.frames > 100
    assert interceptor.stats.refused == 0
    li.calls.confirm_sas(False)  # "the words differ" ends both legs
    await asyncio.sleep(3)
    assert li.calls.current is None and wang.calls.current is None
    assert ends(li) == ["words_differ"] and ends(wang) == ["remote_hung_up"]
    assert all(leg.calls.current is None for leg in interceptor._legs.values())


@pytest.mark.looptime
async def test_the_callee_saying_the_words_differ_ends_the_callers_call_too(tmp_path):
    stage, li, wang = await armed(tmp_path)
    await connected(stage, li, wang)
    wang.calls.confirm_sas(False)
    await asyncio.sleep(3)
    assert ends(wang) == ["words_differ"] and ends(li) == ["remote_hung_up"]


@pytest.mark.looptime
async def test_the_carrier_reads_and_passes_on_messages_both_ways(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="phone_tui.handset.interceptor")
    stage, li, wang = await armed(tmp_path)
    li.messenger.accept_identity(wang.number)
    wang.messenger.accept_identity(li.number)
    message_id = li.messenger.send_text(wang.number, "The vote is at noon")
    wang.messenger.send_text(li.number, "Understood")
    await asyncio.sleep(5)
    assert received(wang, li.number) == [SEEDS.impostor_text, "The vote is at noon"]
    assert received(li, wang.number) == [SEEDS.impostor_text, "Understood"]
    # The recipient's delivery report reaches the sender as its own (the id was kept).
    sent = next(m for m in li.messenger.history(wang.number) if m.uuid == message_id)
    assert sent.state == "delivered"
    assert stage.interceptor.stats.read == 2
    logged = " ".join(record.getMessage() for record in caplog.records)
    assert "read a text" in logged and "noon" not in logged and "Understood" not in logged


@pytest.mark.looptime
async def test_a_declined_call_is_declined_for_the_caller(tmp_path):
    stage, li, wang = await armed(tmp_path)
    li.messenger.accept_identity(wang.number)
    li.calls.dial(wang.number)
    await asyncio.sleep(3)
    wang.calls.decline()
    await asyncio.sleep(3)
    assert ends(li) == ["declined"] and ends(wang) == ["declined"]


@pytest.mark.looptime
async def test_a_caller_who_gives_up_leaves_a_missed_call(tmp_path):
    stage, li, wang = await armed(tmp_path)
    li.messenger.accept_identity(wang.number)
    li.calls.dial(wang.number)
    await asyncio.sleep(3)
    li.calls.hangup()
    await asyncio.sleep(3)
    assert ends(li) == ["cancelled"] and ends(wang) == ["missed"]


@pytest.mark.looptime
async def test_no_answer_ends_both_calls(tmp_path):
    stage, li, wang = await armed(tmp_path)
    li.messenger.accept_identity(wang.number)
    li.calls.dial(wang.number)
    await asyncio.sleep(3)
    stage.clock.advance(46)  # the calls keep the stage's (manual) clock
    await asyncio.sleep(3)
    assert li.calls.current is None and wang.calls.current is None
    assert ends(li) == ["no_answer"] and ends(wang) == ["missed"]
    assert all(leg.calls.current is None for leg in stage.interceptor._legs.values())


@pytest.mark.looptime
async def test_a_busy_callee_is_busy_for_the_caller(tmp_path):
    stage, li, wang = await armed(tmp_path)
    duty = next(c.number for c in wang.messenger.contacts() if c.name == "Duty Officer")
    wang.calls.dial(duty)
    await asyncio.sleep(4)
    assert wang.calls.current.state is CallState.CONNECTED
    li.messenger.accept_identity(wang.number)
    li.calls.dial(wang.number)
    await asyncio.sleep(3)
    assert ends(li) == ["busy"]
    assert wang.calls.current.state is CallState.CONNECTED  # the call with the bot goes on


@pytest.mark.looptime
async def test_a_call_to_a_phone_that_is_off_the_network_is_unavailable(tmp_path):
    stage, li, wang = await armed(tmp_path)
    li.messenger.accept_identity(wang.number)
    stage.toggle_airplane(1)
    li.calls.dial(wang.number)
    await asyncio.sleep(3)
    assert ends(li) == ["unavailable"]
    assert all(leg.calls.current is None for leg in stage.interceptor._legs.values())


@pytest.mark.looptime
async def test_the_callee_hanging_up_ends_the_callers_call(tmp_path):
    stage, li, wang = await armed(tmp_path)
    await connected(stage, li, wang)
    wang.calls.hangup()
    await asyncio.sleep(3)
    assert ends(wang) == ["hung_up"] and ends(li) == ["remote_hung_up"]


@pytest.mark.looptime
async def test_the_other_phone_may_call_too(tmp_path):
    stage, li, wang = await armed(tmp_path)
    wang.messenger.accept_identity(li.number)
    wang.calls.dial(li.number)
    await asyncio.sleep(3)
    assert "safety number" in li.calls.current.warning
    li.calls.answer()
    await asyncio.sleep(3)
    a, b = li.calls.current, wang.calls.current
    assert a.state is b.state is CallState.CONNECTED and a.sas != b.sas


@pytest.mark.looptime
async def test_garbage_from_a_phone_does_not_crash_the_carrier(tmp_path):
    stage, li, wang = await armed(tmp_path)
    await connected(stage, li, wang)
    interceptor, bus = stage.interceptor, stage.network
    before = interceptor.stats.refused
    for junk in (b"", b"\x80", b"\x80\x60" + bytes(40), bytes(2000), b"\x80\xc8" + bytes(60)):
        assert bus.voice_interceptor(li.number, wang.number, junk) is True
    assert interceptor.stats.refused == before + 5
    for body in (b"", b"\x01", b"\x04\x01garbage", bytes(300)):
        for kind in (EnvelopeKind.MESSAGE, EnvelopeKind.CALL):
            envelope = Envelope(kind, bytes(16), li.number, wang.number, body)
            assert bus.interceptor(li.number, wang.number, envelope) is True
    await asyncio.sleep(2)
    assert li.calls.current.state is wang.calls.current.state is CallState.CONNECTED


@pytest.mark.looptime
async def test_a_second_f9_takes_the_carrier_out_and_ends_a_bridged_call(tmp_path):
    stage, li, wang = await armed(tmp_path)
    await connected(stage, li, wang)
    bus, interceptor = stage.network, stage.interceptor
    with pytest.raises(StageError, match="already in the middle"):
        stage.impersonate(1)
    assert stage.intercepted == (0, 1)
    assert stage.stop_intercepting() == ("Minister Li", "Director Wang")
    assert bus.interceptor is None and bus.voice_interceptor is None
    assert stage.intercepted is None and stage.stop_intercepting() is None
    await asyncio.sleep(3)
    assert ends(li) == ["remote_hung_up"] and ends(wang) == ["remote_hung_up"]
    # Nothing of the carrier's is left running.
    assert interceptor.closed
    assert all(leg.calls._timer is None and leg.media is None
               for leg in interceptor._legs.values())


@pytest.mark.looptime
async def test_a_reset_and_closing_the_stage_take_the_carrier_out(tmp_path):
    stage, li, wang = await armed(tmp_path)
    await stage.reset()
    assert stage.interceptor is None and stage.network.interceptor is None
    stage.impersonate(0)
    assert stage.network.interceptor is not None
    stage.close()
    assert stage.interceptor is None and stage.network.interceptor is None


async def test_f9_puts_the_carrier_in_the_middle_and_takes_it_out_again(stage_factory):
    app = await stage_factory()
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        await unlock_all(pilot)
        status = app.query_one("#stage-status")
        li, wang = app.stage.handsets
        await pilot.press("f9")
        await settle(pilot)
        assert status.text == (
            "Man in the middle · Carrier in the middle of Minister Li and Director Wang: new "
            "keys for both; their calls go through it.")
        assert len(status.text) <= 136  # one row of a 140-column stage, its padding apart
        assert app.stage.intercepted == (0, 1)
        await wait_for(pilot, lambda: li.messenger.contact(wang.number).new_identity is not None
                       and wang.messenger.contact(li.number).new_identity is not None)
        await pilot.press("f9")
        await settle(pilot)
        assert status.text == ("Man in the middle · The carrier left the middle of Minister Li "
                               "and Director Wang: they talk direct again.")
        assert app.stage.intercepted is None and app.stage.network.interceptor is None


@pytest.mark.looptime
async def test_with_a_record_folder_the_carrier_saves_what_it_heard_of_each_phone(tmp_path):
    import wave

    from phone_tui.media.audio import CallAudio, clip_path, level_dbfs

    stage = make_stage(tmp_path / "stage")
    stage.set_audio(CallAudio(voice=clip_path(), record=tmp_path / "heard"))
    await on_air(stage)
    stage.impersonate(0)
    await asyncio.sleep(5)
    li, wang = stage.handsets
    await connected(stage, li, wang)
    await asyncio.sleep(4)
    li.calls.hangup()
    await asyncio.sleep(2)
    files = sorted((tmp_path / "heard").glob("*-carrier-hears-*.wav"))
    assert len(files) == 2
    for path in files:
        assert path.stat().st_mode & 0o777 == 0o600
        with wave.open(str(path)) as heard:
            assert heard.getframerate() == 16000 and heard.getnframes() > 3 * 16000
            pcm = heard.readframes(heard.getnframes())
        assert level_dbfs(pcm) > -40  # the clip, in clear: not silence


@pytest.mark.looptime
async def test_phones_that_talked_before_are_read_too_once_they_accept(tmp_path):
    stage = await on_air(make_stage(tmp_path))
    li, wang = stage.handsets
    li.messenger.send_text(wang.number, "before")
    await asyncio.sleep(3)
    wang.messenger.send_text(li.number, "before, too")
    await asyncio.sleep(3)
    stage.impersonate(0)
    await asyncio.sleep(5)
    li.messenger.accept_identity(wang.number)
    wang.messenger.accept_identity(li.number)
    li.messenger.send_text(wang.number, "after")
    await asyncio.sleep(3)
    wang.messenger.send_text(li.number, "after, too")
    await asyncio.sleep(3)
    assert received(wang, li.number)[-1] == "after"
    assert received(li, wang.number)[-1] == "after, too"
    assert stage.interceptor.stats.read >= 2


@pytest.mark.looptime
async def test_once_the_carrier_is_out_the_phones_take_the_real_keys_back_and_calls_work(
        tmp_path):
    """From the new-user review: after one run of demo-calls (which ends with the carrier in
    the middle), the next run's call rang on the caller only. Stepping out, or an unlock on
    a stage whose carrier is not in the middle, puts the real keys back."""
    stage, li, wang = await armed(tmp_path)
    await connected(stage, li, wang)
    li.calls.hangup()
    await asyncio.sleep(3)
    # As if the process ended with the carrier in the middle: it is gone, its keys stay.
    interceptor, stage.interceptor = stage.interceptor, None
    interceptor.close()
    li.lock("user")
    await li.unlock(stage.phones[0].pin)
    await asyncio.sleep(3)
    assert li.messenger.contact(wang.number).new_identity is None
    wang.lock("user")
    await wang.unlock(stage.phones[1].pin)
    await asyncio.sleep(3)
    li.calls.dial(wang.number)
    await asyncio.sleep(3)
    assert wang.calls.current is not None and wang.calls.current.state is CallState.RINGING
    wang.calls.answer()
    await asyncio.sleep(3)
    assert li.calls.current.sas == wang.calls.current.sas
