"""The demo stage in the app: phones side by side, the operator tap, presenter controls."""

from __future__ import annotations

import html
import random
import re

import pytest
from textual.widgets import RichLog

from phone_tui.core.clock import ManualClock
from phone_tui.handset.device import load_device
from phone_tui.handset.handset import HandsetState
from phone_tui.handset.stage import Stage, load_stage_seeds
from phone_tui.modem.bus import Bus
from phone_tui.modem.profiles import load_profiles
from phone_tui.testing import FAST_KDF, settle, wait_for
from phone_tui.ui.stage_app import ConfirmReset, StageApp, StageSlot
from phone_tui.ui.themes import load_themes
from phone_tui.ui.widgets.tap_view import TapView

SEEDS = load_stage_seeds()
WIDE, NARROW = (130, 45), (100, 45)


async def make_stage_app(root, count: int = 2) -> StageApp:
    stage = Stage(root, count, clock=ManualClock(), device=load_device(), seeds=SEEDS,
                  deterministic=True, profile="full", kdf=FAST_KDF)
    await stage.prepare()
    return StageApp(stage, themes=load_themes(root / "themes"), profiles=load_profiles(),
                    network=Bus(random.Random(7)))


def tap_lines(app) -> list[str]:
    return [strip.text for strip in app.query_one("#tap-log", RichLog).lines]


async def unlock_all(pilot) -> None:
    """Type each phone's demo PIN, moving between phones with F3, as a presenter would."""
    app = pilot.app
    for phone in app.stage.phones:
        await pilot.press(*phone.pin, "enter")
        await settle(pilot)
        await pilot.press("f3")
        await settle(pilot)
    assert all(h.state is HandsetState.UNLOCKED for h in app.stage.handsets)


async def test_two_phones_exchange_a_message_and_the_tap_shows_frames_not_text(stage_factory):
    app = await stage_factory()
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot)
        assert [slot.display for slot in app.query(StageSlot)] == [True, True]
        await unlock_all(pilot)
        li, wang = app.stage.handsets
        li.messenger.send_text(wang.number, "Budget figures: 4.2 million")
        await wait_for(pilot, lambda: len(wang.messenger.history(li.number)) == 1)
        await wait_for(pilot, lambda: any("message" in line for line in tap_lines(app)))
        lines = tap_lines(app)
        assert any(li.number in line and wang.number in line and "message" in line
                   for line in lines)
        assert not any("Budget" in line or "4.2" in line for line in lines)
        # Filter by number: only frames to or from it.
        app.query_one("#tap-filter").value = wang.number.replace(" ", "")
        await settle(pilot)
        assert all(wang.number in line for line in tap_lines(app))


async def test_focus_moves_with_f3_and_with_a_click(stage_factory):
    app = await stage_factory()
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot)
        assert app.active == 0 and app.query_one("#slot-1").has_class("-active")
        await pilot.press("f3")
        await settle(pilot)
        assert app.active == 1 and app.focused in app.query_one("#handset-2").query("*")
        await pilot.click("#slot-1 .slot-caption")
        await settle(pilot)
        assert app.active == 0 and app.query_one("#slot-1").has_class("-active")
        # Keys go to the phone in front only.
        await pilot.press(*SEEDS.phones[0].pin, "enter")
        await settle(pilot)
        assert [h.state for h in app.stage.handsets] == [HandsetState.UNLOCKED,
                                                          HandsetState.LOCKED]


async def test_narrow_terminal_shows_one_phone_and_a_switcher(stage_factory):
    app = await stage_factory(3)
    async with app.run_test(size=NARROW) as pilot:
        await settle(pilot)
        assert [slot.display for slot in app.query(StageSlot)] == [True, False, False]
        assert app.has_class("-narrow") and "Director Wang" in str(
            app.query_one("#stage-switcher").content)
        await pilot.press("f3")
        await settle(pilot)
        assert [slot.display for slot in app.query(StageSlot)] == [False, True, False]
        await pilot.resize_terminal(190, 45)
        await settle(pilot)
        assert all(slot.display for slot in app.query(StageSlot))
        assert not app.has_class("-narrow")


async def test_presenter_keys(stage_factory):
    app = await stage_factory()
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot)
        await unlock_all(pilot)
        li, wang = app.stage.handsets
        await pilot.press("f5")  # every phone to the next profile
        assert li.modem.profile.name == wang.modem.profile.name != "full"
        await pilot.press("f6")  # the active phone (Minister Li) loses its signal
        assert li.modem.registration == "searching" and wang.modem.in_service
        await pilot.press("f6")
        assert li.modem.in_service
        await pilot.press("f7")
        assert li.modem.airplane
        await pilot.press("f7")
        assert not li.modem.airplane
        app.set_profile("full")
        await pilot.press("f8")  # a bot writes to Minister Li
        await wait_for(pilot, lambda: any(c.last is not None and c.last.body == SEEDS.injects[0]
                                          for c in li.messenger.conversations()))
        li.messenger.send_text(wang.number, "hello")
        await wait_for(pilot, lambda: li.messenger.contact(wang.number).identity is not None)
        await pilot.press("f9")  # the carrier writes to Li as Director Wang, new key
        await wait_for(pilot, lambda: li.messenger.contact(wang.number).new_identity
                       is not None)
        await pilot.press("f4")
        assert app.query_one(TapView).paused
        await pilot.press("f4")
        assert not app.query_one(TapView).paused


async def test_reset_asks_first_then_starts_over(stage_factory):
    app = await stage_factory()
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot)
        await unlock_all(pilot)
        li, wang = app.stage.handsets
        li.messenger.send_text(wang.number, "before")
        await wait_for(pilot, lambda: len(wang.messenger.history(li.number)) == 1)
        await pilot.press("ctrl+r")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmReset)
        await pilot.press("escape")
        await settle(pilot)
        assert li.state is HandsetState.UNLOCKED
        await pilot.press("ctrl+r")
        await settle(pilot)
        await pilot.click("#reset-go")
        await settle(pilot)
        await wait_for(pilot, lambda: all(h.state is HandsetState.LOCKED
                                          for h in app.stage.handsets))
        await settle(pilot)
        assert tap_lines(app) == []
        await pilot.press(*SEEDS.phones[0].pin, "enter")
        await settle(pilot)
        assert li.state is HandsetState.UNLOCKED and li.messenger.history(wang.number) == []


@pytest.mark.parametrize("size", [WIDE, NARROW])
def test_stage_snapshot(snap_compare, tmp_path, size):
    import asyncio

    app = asyncio.run(make_stage_app(tmp_path))

    async def exchange(pilot) -> None:
        await settle(pilot)
        await unlock_all(pilot)
        li, wang = pilot.app.stage.handsets
        li.messenger.send_text(wang.number, "Budget figures: 4.2 million")
        await wait_for(pilot, lambda: len(wang.messenger.history(li.number)) == 1)
        await wait_for(pilot, lambda: sum("message" in line for line in tap_lines(pilot.app))
                       >= 2)
        await settle(pilot)

    assert snap_compare(app, terminal_size=size, run_before=exchange)


async def test_the_palette_offers_every_control_for_every_phone(stage_factory):
    from phone_tui.ui.stage_commands import StageCommands

    app = await stage_factory()
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot)
        commands = {title: callback for title, _, callback in
                    StageCommands(app.screen)._commands()}
        for name in ("Minister Li", "Director Wang"):
            for what in ("drop the signal / give it back", "airplane mode on/off",
                         "a message from a bot", "man in the middle", "link profile GPRS"):
                assert f"{name}: {what}" in commands
        commands["All phones: link profile GPRS"]()
        commands["Director Wang: airplane mode on/off"]()
        assert [h.modem.profile.name for h in app.stage.handsets] == ["gprs", "gprs"]
        assert app.stage.handsets[1].modem.airplane and not app.stage.handsets[0].modem.airplane


def test_demo_command_errors_are_one_line_and_exit_2(tmp_path, capsys):
    from phone_tui import cli

    assert cli.main(["--data-dir", str(tmp_path), "demo", "--profile", "warp"]) == 2
    assert "unknown link profile 'warp'" in capsys.readouterr().err
    (tmp_path / "data" / "demo").mkdir(parents=True)
    (tmp_path / "data" / "demo" / "notes.txt").write_text("mine")
    assert cli.main(["--data-dir", str(tmp_path), "demo", "--fresh"]) == 2
    assert "not deleting it" in capsys.readouterr().err
    assert (tmp_path / "data" / "demo" / "notes.txt").read_text() == "mine"
    with pytest.raises(SystemExit) as exit_:
        cli.main(["demo", "--handsets", "5"])
    assert exit_.value.code == 2


def test_demo_sets_phones_up_once_and_reuses_them(tmp_path, capsys):
    from phone_tui import cli

    args = cli.parser().parse_args(["--data-dir", str(tmp_path), "demo", "--profile", "3g"])
    app = cli.build_stage(args, str(tmp_path))
    assert "Setting up 2 demo phones" in capsys.readouterr().err
    keystore = app.stage.handsets[0].personas["secure"].keystore_path
    first = keystore.read_bytes()
    again = cli.build_stage(args, str(tmp_path))
    assert "Setting up" not in capsys.readouterr().err
    assert keystore.read_bytes() == first
    assert [h.settings.link_profile for h in again.stage.handsets] == ["3g", "3g"]
    fresh = cli.parser().parse_args(["--data-dir", str(tmp_path), "demo", "--fresh"])
    cli.build_stage(fresh, str(tmp_path))
    assert keystore.read_bytes() != first


def test_a_scripted_demo_plays_step_by_step_and_goes_back(tmp_path, fast_kdf):
    import asyncio

    from phone_tui import cli

    args = cli.parser().parse_args(["--data-dir", str(tmp_path), "demo", "--deterministic",
                                    "--script", "demo-e2e-carrier"])
    app = cli.build_stage(args, str(tmp_path))
    asyncio.run(_play_script(app))


async def _play_script(app) -> None:
    panel = app.script
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot)
        assert "End-to-end encryption as the carrier sees it" in str(panel.content)
        for number in range(1, len(panel.flow.steps) + 1):
            await pilot.click("#script")  # a click (or space) plays the next step
            await wait_for(pilot, lambda: panel.state in ("done", "failed"), rounds=1500)
            assert (panel.index, panel.state) == (number - 1, "done"), panel.detail
            assert f"Step {number}/" in str(panel.content)
        assert "the end" in str(panel.content)
        li = app.stage.handsets[0]
        assert li.messenger.contact(app.stage.handsets[1].number).new_identity is not None
        await pilot.press("pageup")
        await settle(pilot)
        assert panel.index == len(panel.flow.steps) - 2 and panel.state == "ready"


def test_auto_needs_a_script(tmp_path, capsys):
    from phone_tui import cli

    assert cli.main(["--data-dir", str(tmp_path), "demo", "--auto", "3"]) == 2
    assert "--auto needs --script" in capsys.readouterr().err


# ---- issue 12: presenter keys on every view, the reset dialog, the tap's counter and names ----


async def _open_chat(pilot, number: str) -> None:
    from phone_tui.ui.views.messages import ChatView

    app = pilot.app
    app.active_handset_view().push(ChatView(number))
    await settle(pilot)
    assert app.focused is not None and app.focused.id == "chat-compose"


async def test_every_presenter_key_works_while_a_chat_is_open(stage_factory):
    app = await stage_factory()
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot)
        await unlock_all(pilot)
        li, wang = app.stage.handsets
        await _open_chat(pilot, wang.number)
        await pilot.press("f6")  # the compose box's TextArea selects a line on F6
        assert li.modem.registration == "searching"
        await pilot.press("f6")
        await pilot.press("f7")  # ... and selects all on F7
        assert li.modem.airplane
        await pilot.press("f7")
        assert not li.modem.airplane
        await pilot.press("f4")
        assert app.query_one(TapView).paused
        await pilot.press("f4", "f5")
        assert not app.query_one(TapView).paused and li.modem.profile.name != "full"
        await pilot.press("ctrl+r")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmReset)
        await pilot.press("escape")
        await pilot.press("f3")
        assert app.active == 1


async def test_reset_dialog_takes_enter_at_once_and_the_stage_shows_behind_it(stage_factory):
    app = await stage_factory()
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot)
        await unlock_all(pilot)
        await pilot.press("ctrl+r")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmReset)
        assert app.focused is not None and app.focused.id == "reset-go"
        # Flat one-line buttons, as in the phones' dialogs.
        assert all(button.compact and button.size.height == 1
                   for button in app.screen.query("Button"))
        assert app.screen.styles.background.a < 1  # dimmed, not an opaque screen
        await pilot.press("right")
        assert app.focused.id == "reset-cancel"
        await pilot.press("left")
        assert app.focused.id == "reset-go"
        shot = html.unescape(re.sub(r"<[^>]+>", "", app.export_screenshot())).replace(
            "\xa0", " ")
        assert "Reset the stage?" in shot and "Minister Li" in shot and "OPERATOR" in shot
        await pilot.press("enter")
        await settle(pilot)
        await wait_for(pilot, lambda: all(h.state is HandsetState.LOCKED
                                          for h in app.stage.handsets))


async def test_reset_shows_each_step_as_it_goes(stage_factory, monkeypatch):
    from phone_tui.ui.stage_app import ResetProgressScreen

    shown: list[tuple[str, float, bool]] = []
    original = ResetProgressScreen.show_step

    def spy(screen, step) -> None:  # noqa: ANN001
        original(screen, step)
        # What the presenter sees at that moment: the step line over the stage.
        shown.append((str(screen.query_one("#reset-step").content),
                      screen.query_one("#reset-bar").progress, screen.app.screen is screen))

    monkeypatch.setattr(ResetProgressScreen, "show_step", spy)
    app = await stage_factory()
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+r")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        await wait_for(pilot, lambda: not isinstance(app.screen, ResetProgressScreen))
    texts = [text for text, _, _ in shown]
    assert "Wiping phone 1 of 2…" in texts and "Wiping phone 2 of 2…" in texts
    assert any(text.startswith("Setting up phone 2 of 2") for text in texts)
    assert all(on_top for _, _, on_top in shown)
    bars = [progress for _, progress, _ in shown]
    assert bars == sorted(bars) and bars[0] < bars[-1]


async def test_paused_tap_counts_the_frames_that_wait(stage_factory):
    app = await stage_factory()
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot)
        await unlock_all(pilot)
        li, wang = app.stage.handsets
        tap = app.query_one(TapView)
        await pilot.press("f4")
        for n in range(4):
            li.messenger.send_text(wang.number, f"figures {n}")
        await wait_for(pilot, lambda: len(wang.messenger.history(li.number)) == 4)
        await wait_for(pilot, lambda: sum(r.content == "message" for r, _ in tap._held) >= 8)
        await settle(pilot)
        waiting = sum(tap._wanted(r) for r, _ in tap._held)
        assert waiting >= 8
        assert f"({waiting} waiting)" in str(app.query_one("#tap-state").content)
        before = len(tap_lines(app))
        await pilot.press("f4")
        await settle(pilot)
        assert len(tap_lines(app)) == before + waiting


async def test_the_tap_names_each_phone_and_bot_the_carrier_knows(stage_factory):
    app = await stage_factory()
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot)
        await unlock_all(pilot)
        li, wang = app.stage.handsets
        li.messenger.send_text(wang.number, "hello")
        await wait_for(pilot, lambda: len(wang.messenger.history(li.number)) == 1)
        await wait_for(pilot, lambda: any("message" in line for line in tap_lines(app)))
        assert any(f"Minister Li ({li.number})" in line and
                   f"Director Wang ({wang.number})" in line for line in tap_lines(app))
        await pilot.press("f8")  # the Duty Officer (a bot) writes to Minister Li
        await wait_for(pilot, lambda: any("Duty Officer (+86 190 0000 0110)" in line
                                          for line in tap_lines(app)))


async def test_filtering_the_tap_by_a_name_keeps_only_that_phones_frames(stage_factory):
    app = await stage_factory(3)
    async with app.run_test(size=(190, 45)) as pilot:
        await settle(pilot)
        await unlock_all(pilot)
        li, wang, zhao = app.stage.handsets
        li.messenger.send_text(wang.number, "to Wang")
        wang.messenger.send_text(zhao.number, "to Zhao")
        await wait_for(pilot, lambda: len(zhao.messenger.history(wang.number)) == 1)
        await wait_for(pilot, lambda: sum("message" in line for line in tap_lines(app)) >= 4)
        app.query_one("#tap-filter").value = "minister li"
        await settle(pilot)
        lines = tap_lines(app)
        assert lines and all(li.number in line for line in lines)
        assert not any(zhao.number in line for line in lines)
        app.query_one("#tap-filter").value = "ZHAO"
        await settle(pilot)
        assert tap_lines(app) and all(zhao.number in line for line in tap_lines(app))


@pytest.mark.parametrize(("start", "then"), [(100, 160), (160, 100)])
async def test_every_tap_line_fits_the_pane_and_shows_kind_size_and_ciphertext(
        stage_factory, start, then):
    from rich.cells import cell_len

    app = await stage_factory()
    async with app.run_test(size=(start, 45)) as pilot:
        await settle(pilot)
        await unlock_all(pilot)
        li, wang = app.stage.handsets
        li.messenger.send_text(wang.number, "Budget figures: 4.2 million")
        await wait_for(pilot, lambda: len(wang.messenger.history(li.number)) == 1)
        await wait_for(pilot, lambda: sum("message" in line for line in tap_lines(app)) >= 2)
        for width in (start, then):
            if width != start:
                await pilot.resize_terminal(width, 45)
                await settle(pilot)
                await pilot.pause()
            log = app.query_one("#tap-log", RichLog)
            room = log.scrollable_content_region.width
            assert room >= width - 4
            lines = tap_lines(app)
            assert lines
            for line in lines:
                assert cell_len(line) <= room, (width, line)
                # A report's body is a byte or two; a message shows several words of hex.
                hex_words = r"[0-9a-f]{2}" if " report " in line else r"[0-9a-f]{4} [0-9a-f]{4}"
                assert re.search(rf"\b(message|report)\s+\d+ B\s.*\b{hex_words}", line), \
                    (width, line)
            assert log.virtual_size.width <= room and not log.show_horizontal_scrollbar
        # The filter still goes by name or number, whatever the line shows of them.
        app.query_one("#tap-filter").value = "director wang"
        await settle(pilot)
        assert tap_lines(app) and app.query_one(TapView).shown == len(tap_lines(app))
        app.query_one("#tap-filter").value = "nobody here"
        await settle(pilot)
        assert tap_lines(app) == []


async def test_presenter_keys_answer_in_the_status_line_not_in_toasts_over_the_tap(
        stage_factory):
    app = await stage_factory()
    async with app.run_test(size=(100, 40), notifications=True) as pilot:
        await settle(pilot)
        await unlock_all(pilot)
        status = app.query_one("#stage-status")
        tap = app.query_one(TapView)
        await pilot.press("f5")
        await settle(pilot)
        assert status.text.startswith("Link profile · All phones: ")
        assert status.text in str(status.render())
        await pilot.press("f8")
        await wait_for(pilot, lambda: "Duty Officer wrote to Minister Li." in status.text)
        await pilot.pause()
        assert list(app.screen.query("Toast")) == [] and not app._notifications
        assert status.region.area > 0 and not status.region.overlaps(tap.region)
        assert status.region.bottom <= tap.region.y
        # It fades on the stage's clock; an error stays until something replaces it.
        app.stage.clock.advance(6)
        status.tick()
        assert status.text == ""
        app.notify("policy.json: damaged", title="Bots", severity="error")
        app.stage.clock.advance(600)
        status.tick()
        assert status.text == "Bots · policy.json: damaged" and status.has_class("-error")
        await pilot.press("f6")
        assert status.text == "Signal · Minister Li: signal dropped"
        assert not app.has_class("-too-small")


# ---- issue 13: the fast_kdf fixture reaches what the CLI builds, and only in that test ----


def _demo_keystore_params(tmp_path):  # noqa: ANN001, ANN202
    from phone_tui import cli
    from phone_tui.crypto.keystore import read_header

    args = cli.parser().parse_args(["--data-dir", str(tmp_path), "demo", "--deterministic"])
    handset = cli.build_stage(args, str(tmp_path)).stage.handsets[0]
    return read_header(handset.persona.keystore_path, handset.persona.kdf.policy).params


def test_the_cli_sets_the_demo_up_with_rfc_9106_argon2id(tmp_path):
    from phone_tui.crypto.keystore import DEFAULT_PARAMS

    assert _demo_keystore_params(tmp_path) == DEFAULT_PARAMS


def test_fast_kdf_makes_the_cli_set_the_demo_up_with_the_fast_kdf(tmp_path, fast_kdf):
    assert _demo_keystore_params(tmp_path) == fast_kdf.params


async def test_f10_calls_the_next_phone_both_show_the_same_words_and_the_tap_shows_voice(
        stage_factory):
    from phone_tui.ui.views.call import InCallView, IncomingCallView

    app = await stage_factory()
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot)
        await unlock_all(pilot)  # ends with phone 1 in front again
        li, wang = app.stage.handsets
        await pilot.press("f10")
        await settle(pilot)
        await wait_for(pilot, lambda: isinstance(app.query_one("#handset-2").top,
                                                 IncomingCallView))
        assert isinstance(app.query_one("#handset-1").top, InCallView)
        await pilot.press("f3")  # to Director Wang's phone, and answer
        await settle(pilot)
        await pilot.press("a")
        await wait_for(pilot, lambda: all(
            h.calls.current is not None and h.calls.current.state == "connected"
            for h in (li, wang)))
        assert li.calls.current.sas == wang.calls.current.sas  # no one in the middle
        await wait_for(pilot, lambda: any(" voice " in line for line in tap_lines(app)))
        lines = tap_lines(app)
        voice = [line for line in lines if " voice " in line]
        assert any("/s" in line and "B ×" in line for line in voice)
        assert any(" call " in line for line in lines)  # the signalling: seen, not read
        words = " ".join(li.calls.current.sas)
        assert not any(word in line for line in lines for word in words.split())
        wang.calls.hangup()
        await wait_for(pilot, lambda: li.calls.current is None)


async def test_the_tap_pane_says_when_it_has_read_every_frame_carried(stage_factory):
    """Screenshots wait for it: the pane's reader is a task of its own, a frame behind on a
    loaded machine (a CI run saw the stage's screenshot without its last tap line)."""
    from phone_tui.modem.bus import TapRecord

    app = await stage_factory()
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot)
        pane = app.query_one(TapView)
        assert pane.caught_up
        app.stage.network.tap.publish(TapRecord(0.0, "GovNet-0001", "up", "+1", b"garbage"))
        assert not pane.caught_up  # published, not read yet
        await wait_for(pilot, lambda: pane.caught_up)


async def test_the_tap_sums_a_calls_voice_apart_from_its_reports():
    """From the new-user review: a call's once-a-second reports showed as voice (after a
    hangup, on hold). The carrier tells them apart by the clear payload-type byte."""
    from textual.app import App

    from phone_tui.media.srtp import PT_REPORT, FrameSealer
    from phone_tui.media.stream import REPORT_SSRC_BIT
    from phone_tui.modem.bus import OperatorTap, TapRecord
    from phone_tui.modem.frames import encode_voice

    class TapApp(App):
        def compose(self):
            yield TapView(ManualClock())

    li, wang = "+86 190 6086 9209", "+86 190 6305 7067"
    tap, app = OperatorTap(), TapApp()
    voice = FrameSealer(bytes(32), bytes(12), 7)
    reports = FrameSealer(bytes(32), bytes(12), 7 ^ REPORT_SSRC_BIT)

    def carry(packet: bytes) -> None:
        tap.publish(TapRecord(0.0, "GovNet-0001", "up", li, encode_voice(wang, packet)))

    async with app.run_test(size=WIDE) as pilot:
        pane = app.query_one(TapView)
        pane.summing.pause()  # the test says when each second is over
        pane.watch_tap(tap)
        await settle(pilot)  # its reader is subscribed
        for n in range(50):  # a second of a call: 50 voice frames and a report
            carry(voice.seal(n, n * 320, bytes(40)))
        carry(reports.seal(0, 0, bytes(37), payload_type=PT_REPORT))
        await wait_for(pilot, lambda: pane.caught_up)
        pane._sum_voice()
        carry(reports.seal(1, 0, bytes(37), payload_type=PT_REPORT))  # on hold: a report only
        await wait_for(pilot, lambda: pane.caught_up)
        pane._sum_voice()
        await settle(pilot)
        lines = tap_lines(app)
        (line,) = [line for line in lines if " voice " in line]
        assert "93 B × 50/s" in line  # 40 B of Opus, sealed (+28) in a PV frame (+25)
        assert not any(" control " in line for line in lines)  # shown with every frame
        pane.toggle_all_frames()
        await settle(pilot)
        control = [line for line in tap_lines(app) if " control " in line]
        assert len(control) == 2 and all("90 B × 1/s" in line for line in control)
