"""The Phone app and the call screens, driven with Pilot: dial a bot, the in-call screen with
its two words and figures, hang up, the call log; a call that rings a locked phone."""

from __future__ import annotations

from dataclasses import replace

import pytest
from test_messages_app import FULL, top, wait_for
from textual.widgets import OptionList, Static

from phone_tui.testing import SIZE, TEST_PIN, make_app, make_handset, open_app, set_up, settle
from phone_tui.ui.views.call import InCallView, IncomingCallView
from phone_tui.ui.views.phone import DialPadView, PhoneAppView, log_line

DUTY = "+86 190 0000 0110"


async def quick_bots(pilot) -> None:
    await settle(pilot)
    for bot in pilot.app.bots:
        bot.seed = replace(bot.seed, answer_delay=0.0, reply_delay=0.0, read_delay=0.0)


def text_of(app, selector: str) -> str:
    return str(app.query_one(selector, Static).content)


def option_prompts(app) -> list[str]:
    options = app.query_one(PhoneAppView).query_one(OptionList)
    return [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]


async def test_call_the_duty_officer_from_the_phone_app_words_then_hang_up(data_dir, clock):
    handset = make_handset(data_dir, clock=clock, settings=FULL)
    await set_up(handset, locked=False)
    app = make_app(data_dir, handset=handset, settings=FULL)
    async with app.run_test(size=SIZE) as pilot:
        await quick_bots(pilot)
        await open_app(pilot, "phone")
        assert isinstance(top(app), PhoneAppView)
        prompts = option_prompts(app)
        assert prompts[0].startswith("⌨") and any("Duty Officer" in p for p in prompts)
        options = app.query_one(PhoneAppView).query_one(OptionList)
        options.highlighted = next(i for i, p in enumerate(prompts) if "Duty Officer" in p)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(top(app), InCallView)
        await wait_for(pilot, lambda: handset.calls.current is not None
                       and handset.calls.current.state == "connected", rounds=200)
        await settle(pilot)
        info = handset.calls.current
        assert info.sas is not None
        words = text_of(app, "#call-words")
        assert words.split("\n") == [" ".join(word.upper()) for word in info.sas]
        assert app.screen.focused.id == "call-match"  # the words ask for a choice first
        assert "Read these words aloud" in text_of(app, "#call-sas-hint")
        # The Duty Officer reads its words aloud: the same two, heard on this phone.
        await wait_for(pilot, lambda: "says" in text_of(app, "#call-heard"), rounds=300)
        assert text_of(app, "#call-heard") == f'Duty Officer says: "{" ".join(info.sas)}"'

        assert text_of(app, "#call-name") == "Duty Officer"
        await pilot.press("y")  # the words match what the Duty Officer read
        await settle(pilot)
        assert handset.calls.current.verified == "match"
        assert "Verified" in text_of(app, "#call-sas-hint")
        await pilot.press("m")
        await settle(pilot)
        assert handset.calls.current.muted
        await pilot.press("escape")  # elsewhere during the call: the banner brings it back
        await settle(pilot)
        assert app.query_one("HandsetView").has_class("-call-banner")
        assert "Duty Officer" in str(app.query_one("#call-banner", Static).content)
        await pilot.press("ctrl+g")
        await settle(pilot)
        assert isinstance(top(app), InCallView)
        await pilot.press("e")
        await settle(pilot)
        await wait_for(pilot, lambda: handset.calls.current is None)
        await settle(pilot)
        assert not isinstance(top(app), InCallView)
        assert isinstance(top(app), PhoneAppView)  # back where the call was made
        (entry,) = handset.calls.log()
        utc = bool(getattr(clock, "utc", False))
        assert entry.reason == "hung_up"
        assert [p for p in option_prompts(app) if p.startswith("↗")] == [
            log_line(entry, utc) + "\n   You hung up"]  # the log says how the call ended
        assert not app.query_one("HandsetView").has_class("-call-banner")
        await open_app(pilot, "phone") if not isinstance(top(app), PhoneAppView) else None
        await settle(pilot)
        assert any("↗" in p and "Duty Officer" in p for p in option_prompts(app))


async def test_the_keypad_types_digits_and_refuses_what_is_not_a_number(data_dir, clock):
    handset = make_handset(data_dir, clock=clock, settings=FULL)
    await set_up(handset, locked=False)
    app = make_app(data_dir, handset=handset, settings=FULL)
    async with app.run_test(size=SIZE) as pilot:
        await quick_bots(pilot)
        await open_app(pilot, "phone")
        await pilot.press("k")
        await settle(pilot)
        pad = top(app)
        assert isinstance(pad, DialPadView)
        await pilot.press("1", "2", "backspace", "3")
        await settle(pilot)
        assert pad.number == "13"
        await pilot.press("enter")
        await settle(pilot)
        assert handset.calls.current is None  # "13" is no number: nothing dialled
        await pilot.click("#dial-plus")
        await settle(pilot)
        assert pad.number == "13+"


async def test_a_call_rings_the_lock_screen_and_the_pin_answers_it(data_dir, clock):
    """The Duty Officer cannot call, so a second handset's bot-less messenger calls this one
    while it is locked: it rings with the number only; the PIN answers; the call ends and the
    phone is locked again."""
    handset = make_handset(data_dir, clock=clock, settings=FULL)
    await set_up(handset, locked=False)
    app = make_app(data_dir, handset=handset, settings=FULL)
    async with app.run_test(size=SIZE) as pilot:
        await quick_bots(pilot)
        duty = next(bot for bot in app.bots if bot.seed.number == DUTY)
        handset.lock("user")
        await settle(pilot)
        duty.calls.dial(handset.number)
        await wait_for(pilot, lambda: isinstance(top(app), IncomingCallView), rounds=200)
        await settle(pilot)
        assert DUTY in text_of(app, "#incoming-name")
        assert app.query("#incoming-pin")
        await pilot.press(*TEST_PIN, "enter")
        await settle(pilot)
        await wait_for(pilot, lambda: handset.calls is not None
                       and handset.calls.current is not None
                       and handset.calls.current.state == "connected", rounds=300)
        await settle(pilot)
        assert isinstance(top(app), InCallView)
        await pilot.press("home")  # the phone is locked under the call: Home does nothing
        await settle(pilot)
        assert isinstance(top(app), InCallView)
        await pilot.press("e")
        await wait_for(pilot, lambda: handset.state.name == "LOCKED", rounds=200)
        await settle(pilot)
        assert top(app).id == "lock"


def test_a_log_line_shows_direction_name_time_and_a_whole_second_duration():
    from phone_tui.handset.calls import CallLogEntry
    from phone_tui.ui.views.phone import log_ending, log_line

    entry = CallLogEntry("id", DUTY, "Duty Officer", "outgoing", "outgoing", 1767260460.0,
                         83.6, "match", "hung_up")
    assert log_line(entry, utc=True) == "↗  Duty Officer  1 Jan 09:41 · 1:24"
    assert log_ending(entry) == "You hung up"
    missed = CallLogEntry("id", DUTY, "Duty Officer", "incoming", "missed", 1767260460.0,
                          0.0, None)
    assert log_line(missed, utc=True) == "↙  Duty Officer  1 Jan 09:41"
    assert log_ending(missed) == "Missed"  # logged before the reason was kept: the outcome
    long = replace(entry, name="Deputy Director of the General Office")
    assert log_line(long, utc=True, width=38) == "↗  Deputy Directo…  1 Jan 09:41 · 1:24"


# (reason, direction, outcome) as logged -> the ending the log shows under the row
ENDINGS = [
    ("words_differ", "outgoing", "outgoing", "Words differed — call ended"),
    ("words_differ_remote", "incoming", "incoming", "Words differed — they ended it"),
    ("identity_changed", "outgoing", "failed", "Safety number changed"),
    ("no_answer", "outgoing", "outgoing", "No answer"),
    ("no_answer", "incoming", "missed", "Missed"),
    ("declined", "outgoing", "outgoing", "Declined"),
    ("declined", "incoming", "declined", "You declined"),
    ("busy", "outgoing", "outgoing", "Busy"),
    ("busy", "incoming", "missed", "Missed: you were on another call"),
    ("cancelled", "outgoing", "outgoing", "Cancelled"),
    ("missed", "incoming", "missed", "Missed"),
    ("no_service", "outgoing", "failed", "No service"),
    ("unavailable", "outgoing", "failed", "Unavailable (phone off)"),
    ("no_carrier_calls", "outgoing", "failed", "No carrier calls (encrypted only)"),
    ("network_failure", "incoming", "failed", "Network failed"),
    ("hung_up", "incoming", "incoming", "You hung up"),
    ("remote_hung_up", "outgoing", "outgoing", "They hung up"),
    ("", "outgoing", "failed", "Failed"),  # logged before phone-tui kept the reason
    ("", "incoming", "incoming", None),  # ... and nothing more to say
    ("exploded", "outgoing", "outgoing", None),  # a reason this version does not know
]


@pytest.mark.parametrize("width", [60, 100])
async def test_the_call_log_says_how_each_call_ended_in_rows_that_fit(data_dir, clock, width):
    from phone_tui.handset.calls import END_REASONS

    assert set(END_REASONS) <= {reason for reason, *_ in ENDINGS}  # every ending is shown
    handset = make_handset(data_dir, clock=clock, settings=FULL)
    await set_up(handset, locked=False)
    app = make_app(data_dir, handset=handset, settings=FULL)
    async with app.run_test(size=(width, 40)) as pilot:
        await settle(pilot)
        for index, (reason, direction, outcome, _) in enumerate(ENDINGS):
            handset.messenger.store.execute(
                "INSERT INTO calls (call_id, number, direction, outcome, at, duration_s, "
                "reason) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (str(index), DUTY, direction, outcome, 1767260460.0 - index,
                 754.0 if outcome in ("incoming", "outgoing") else 0.0, reason))
        await open_app(pilot, "phone")
        await settle(pilot)
        options = app.query_one(PhoneAppView).query_one(OptionList)
        room = options.scrollable_content_region.width
        rows = [options.render_line(y).text.rstrip() for y in range(options.virtual_size.height)]
        log = rows[rows.index(next(r for r in rows if r.startswith(("↗", "↙")))):]
        expected: list[str] = []
        for _reason, direction, _outcome, ending in ENDINGS:
            expected.append(("↗" if direction == "outgoing" else "↙") + "  Duty Officer  ")
            if ending is not None:
                expected.append("   " + ending)
        assert len(log) == len(expected)  # one row each and its ending: nothing wrapped
        for row, start in zip(log, expected, strict=True):
            assert row.startswith(start) and len(row) <= room


async def test_with_audio_the_level_meter_draws_what_is_heard_and_record_saves_it(
        data_dir, clock, tmp_path):
    """Real audio (the Duty Officer speaks the shipped clip, Opus over the link): the meter
    moves, and --record's WAV holds what this phone heard."""
    import wave

    from phone_tui.media.audio import CallAudio, clip_path
    from phone_tui.ui.views.call import LEVEL_BLOCKS

    handset = make_handset(data_dir, clock=clock, settings=FULL)
    handset.audio = CallAudio(voice=None, record=tmp_path / "rec")
    await set_up(handset, locked=False)
    app = make_app(data_dir, handset=handset, settings=FULL)
    async with app.run_test(size=SIZE) as pilot:
        await quick_bots(pilot)
        assert clip_path().is_file()
        app.query_one("HandsetView").live_figures = True
        handset.calls.dial(DUTY)
        await wait_for(pilot, lambda: handset.calls.current is not None
                       and handset.calls.current.state == "connected", rounds=300)
        meter = app.query_one("#call-level", Static)
        await wait_for(pilot, lambda: any(ch not in LEVEL_BLOCKS[:2]
                                          for ch in str(meter.content)), rounds=300)
        await wait_for(pilot, lambda: "Quality" in text_of(app, "#call-quality"), rounds=300)
        assert "E-model R" in text_of(app, "#call-quality")
        assert "opus-16k" in text_of(app, "#call-figures")
        await pilot.press("i")
        await settle(pilot)
        await wait_for(pilot, lambda: "MOS" in text_of(app, "#stats-table"), rounds=100)
        assert "One-way delay" in text_of(app, "#stats-table")
        assert text_of(app, "#stats-call").startswith("Duty Officer · Connected · ")
        await pilot.press("e")  # hangs up from the figures too
        await wait_for(pilot, lambda: handset.calls.current is None, rounds=100)
        await settle(pilot)
    files = list((tmp_path / "rec").glob("*.wav"))
    assert len(files) == 1 and (files[0].stat().st_mode & 0o777) == 0o600
    with wave.open(str(files[0])) as heard:
        assert heard.getframerate() == 16000 and heard.getnframes() > 0


async def test_the_call_codec_chosen_in_settings_is_the_one_both_sides_use(data_dir, clock):
    handset = make_handset(data_dir, clock=clock, settings=FULL)
    await set_up(handset, locked=False)
    app = make_app(data_dir, handset=handset, settings=FULL)
    async with app.run_test(size=SIZE) as pilot:
        await quick_bots(pilot)
        app.query_one("HandsetView").open_app("settings")
        await settle(pilot)
        top(app).open_entry("call_codec")
        await settle(pilot)
        choices = app.query_one("#call-codec-list", OptionList)
        ids = [choices.get_option_at_index(i).id for i in range(choices.option_count)]
        assert ids == ["opus-16k", "amr-wb-12.65", "amr-nb-12.2"]
        choices.highlighted = ids.index("amr-nb-12.2")
        await pilot.press("enter")
        await settle(pilot)
        assert handset.call_codec == "amr-nb-12.2"
        handset.calls.dial(DUTY)
        await wait_for(pilot, lambda: handset.calls.current is not None
                       and handset.calls.current.state == "connected", rounds=300)
        duty = next(bot for bot in app.bots if bot.seed.number == DUTY)
        assert handset.calls.current.codec == duty.calls.current.codec == "amr-nb-12.2"
        handset.calls.hangup()
        await settle(pilot)
    # Remembered by this OS, across a restart.
    again = make_handset(data_dir, clock=clock, settings=FULL)
    await again.unlock(TEST_PIN)
    assert again.call_codec == "amr-nb-12.2"


async def test_the_keypad_types_plus_and_hash_and_finds_a_number_typed_without_spaces(
        data_dir, clock):
    """From the new-user review: + and # typed their key names, and a number typed without
    spaces was refused (the network writes numbers with spaces)."""
    handset = make_handset(data_dir, clock=clock, settings=FULL)
    await set_up(handset, locked=False)
    app = make_app(data_dir, handset=handset, settings=FULL)
    async with app.run_test(size=SIZE) as pilot:
        await quick_bots(pilot)
        await open_app(pilot, "phone")
        await pilot.press("k")
        await settle(pilot)
        pad = top(app)
        await pilot.press("number_sign", "backspace", "plus", *"8619000000110")
        await settle(pilot)
        assert pad.number == "+8619000000110"
        await pilot.press("enter")
        await wait_for(pilot, lambda: handset.calls.current is not None, rounds=100)
        current = handset.calls.current
        assert current.number == DUTY and current.name == "Duty Officer"
        handset.calls.hangup()
        await settle(pilot)


def test_a_typed_number_is_written_as_the_network_writes_numbers():
    from phone_tui.ui.views.phone import number_as_written

    assert number_as_written("+86 190 0000 0110", None) == "+86 190 0000 0110"
    assert number_as_written("+8619012345678", None) == "+86 190 1234 5678"
    assert number_as_written("110", None) == "110"  # a short code is a number too
    for bad in ("12+3", "++8619012345678", "#", "+86 190#"):
        assert number_as_written(bad, None) is None, bad


async def test_ctrl_l_during_a_call_says_it_ends_the_call_and_the_second_press_locks(
        data_dir, clock):
    from phone_tui.testing import notifications

    handset = make_handset(data_dir, clock=clock, settings=FULL)
    await set_up(handset, locked=False)
    app = make_app(data_dir, handset=handset, settings=FULL)
    async with app.run_test(size=SIZE) as pilot:
        await quick_bots(pilot)
        handset.calls.dial(DUTY)
        await wait_for(pilot, lambda: handset.calls.current is not None
                       and handset.calls.current.state == "connected", rounds=300)
        await pilot.press("ctrl+l")
        await settle(pilot)
        assert handset.state.name == "UNLOCKED" and handset.calls.current is not None
        assert any("Locking ends the call" in n for n in notifications(app))
        await pilot.press("ctrl+l")
        await settle(pilot)
        assert handset.state.name == "LOCKED"
