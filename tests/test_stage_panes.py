"""The stage's panes after the new-user review (issue 15): the intercept list follows the
newest record, the tap shows plain SMS, the attacker's pane shares the height and knows its
victim by number, and a plain SMS's peer is the TPDU's party."""

from __future__ import annotations

import pytest
from textual.widgets import OptionList, RichLog

from phone_tui.modem.cells import load_cells
from phone_tui.modem.frames import Envelope, EnvelopeKind, HopFrame, HopKind
from phone_tui.modem.rogue import AttackerRecord, AttackerTap, Relay
from phone_tui.modem.sms import segments
from phone_tui.modem.sms_pdu import SmsSubmit
from phone_tui.modem.tap import TapRecord
from phone_tui.testing import settle, wait_for
from phone_tui.ui.widgets.intercept_view import InterceptView
from phone_tui.ui.widgets.tap_view import TapView, describe

LI = "+86 190 6086 9209"


def _sms_frame(src: str, dst: str, text: str, recipient: str = "+8613800000000") -> bytes:
    body = SmsSubmit(1, recipient, segments(text)[0]).encode()
    envelope = Envelope(EnvelopeKind.SMS, b"\1" * 16, src, dst, body).encode()
    return HopFrame(HopKind.DATA, 1, 1, envelope, 0, 0).encode()


def _visible_rows(listing: OptionList) -> range:
    top = round(listing.scroll_y)
    return range(top, top + listing.scrollable_content_region.height)


async def test_the_intercept_list_follows_the_newest_record_until_the_user_moves_up(
        stage_factory):
    app = await stage_factory()
    async with app.run_test(size=(150, 50)) as pilot:
        await settle(pilot)
        await pilot.press("f12")
        await settle(pilot)
        view = app.query_one(InterceptView)
        listing = view.query_one(OptionList)
        intercept = app._network.intercept

        async def emit(count: int, tag: str) -> None:
            for n in range(count):
                intercept.emit("IRI-REPORT", "sms", calling="+1", called="+2",
                               sms_text=f"{tag} {n}")
            await wait_for(pilot, lambda: view.caught_up)
            await settle(pilot)

        await emit(40, "first")
        assert listing.option_count - 1 in _visible_rows(listing)
        # The keys back to the phone: the list still follows (it did not, unfocused).
        app.set_active(0, focus=True)
        await settle(pilot)
        await emit(40, "second")
        assert listing.option_count - 1 in _visible_rows(listing)
        assert view.following
        # The user moves up: the list stays where they are, as a log viewer does.
        view.focus_list()
        await settle(pilot)
        await pilot.press("up", "up", "up")
        await settle(pilot)
        held = listing.highlighted
        assert not view.following and held == listing.option_count - 4
        assert "held" in str(app.query_one("#intercept-state").content)
        await emit(20, "third")
        assert listing.highlighted == held and held in _visible_rows(listing)
        assert listing.option_count - 1 not in _visible_rows(listing)
        # End: following again.
        await pilot.press("end")
        await settle(pilot)
        await emit(5, "fourth")
        assert view.following and listing.highlighted == listing.option_count - 1
        assert listing.option_count - 1 in _visible_rows(listing)


async def test_at_100_by_40_the_intercept_list_shows_a_few_records(stage_factory):
    app = await stage_factory()
    # The deterministic banner takes a row: 100x41 here is what a 100x40 demo has.
    async with app.run_test(size=(100, 41)) as pilot:
        await settle(pilot)
        await pilot.press("f12")
        await settle(pilot)
        listing = app.query_one("#intercept-list", OptionList)
        assert app.query_one("#intercept-caption").region.height == 1
        assert listing.region.height >= 3
        assert listing.region.bottom <= app.query_one("#intercept").region.bottom


async def test_the_attacker_pane_and_the_tap_share_the_height_the_phones_leave(stage_factory):
    app = await stage_factory()
    async with app.run_test(size=(150, 50)) as pilot:
        await settle(pilot)
        phones = app.query_one("#stage-phones").region.height
        pane = app.query_one("#attacker")
        pane.is_on = lambda: True
        for n in range(30):
            app._network.attacker.publish(
                AttackerRecord(0.0, "imsi-catcher", "+1", "up", "sms", "+2", f"t{n}", 2))
        pane.show_records()
        await settle(pilot)
        assert app.query_one("#stage-phones").region.height == phones
        log = app.query_one("#tap-log", RichLog).region.height
        assert log >= 4 and pane.region.height >= 6
        screen = "\n".join(strip.text for strip in app.screen._compositor.render_strips())
        first = 30 - (pane.content_region.height - 1)  # its caption, then the newest lines
        assert 't29"' in screen and f't{first}"' in screen and f't{first - 1}"' not in screen
        # The intercept list in the tap's place, with the keys: its rows are records (no
        # focus border eating two of them).
        await pilot.press("f12")
        await settle(pilot)
        listing = app.query_one("#intercept-list", OptionList)
        assert app.focused is listing and listing.scrollable_content_region.height >= 5


def test_the_tap_shows_a_plain_sms_by_default_labelled_plain_not_ciphertext():
    record = TapRecord(0.0, "lte-1", "up", LI, _sms_frame(LI, "network", "hello"))
    assert record.content == "sms"
    pane = TapView.__new__(TapView)
    pane.all_frames = False
    pane.names = {}
    pane.query_one = lambda *_args: type("Filter", (), {"value": ""})()  # no filter typed
    assert pane._wanted(record)
    line = describe(record, 0.0, {}, width=150)
    assert " sms " in line.plain and "plain: the carrier reads it" in line.plain
    assert not any("italic" in str(span.style) for span in line.spans)  # not ciphertext
    from phone_tui.ui.widgets.tap_view import CAPTION

    assert "Never the content" not in CAPTION and "content too" in CAPTION


class _Recorder:
    def send(self, frame: bytes) -> None:
        pass

    def deliver(self, frame: bytes) -> None:
        pass


def test_the_catcher_reads_an_sms_submits_recipient_from_its_tpdu():
    tap = AttackerTap()
    relay = Relay(load_cells().fake["imsi-catcher"], LI, _Recorder(), _Recorder(), tap,
                  now=lambda: 0.0)
    relay.send(_sms_frame(LI, "network", "Meet at noon", recipient="+8613912345678"))
    [record] = tap.recent
    assert (record.peer, record.text) == ("+8613912345678", "Meet at noon")


async def test_f11_next_to_the_secure_os_says_it_was_refused_and_why(stage_factory):
    app = await stage_factory()
    said: list[str] = []
    app.notify = lambda message, **_kwargs: said.append(message)  # type: ignore[method-assign]
    async with app.run_test(size=(130, 45)) as pilot:
        await settle(pilot)
        app.action_fake_cell(0)
        await settle(pilot)
    [line] = [message for message in said if message.startswith("Fake base station")]
    assert "refused it (" in line and "2G" in line and "asked for the IMSI" in line
    assert "stays on" in line, line


async def test_the_carrier_names_cells_by_the_ids_of_cells_toml_throughout(stage_factory):
    app = await stage_factory()
    async with app.run_test(size=(130, 45)) as pilot:
        await settle(pilot)
        intercept = app._network.intercept
        await wait_for(pilot, lambda: sum(r.service == "registration"
                                          for r in intercept.recent) >= 2)
        real = set(app._network.cells.cells)
        assert app._network.home_cell == "lte-1"  # the strongest real cell
        assert {r.cell for r in intercept.recent} <= real
        assert set(intercept.cells.values()) <= real  # the bots' lines too
        assert {r.cell for r in app._network.tap.recent} <= real


@pytest.mark.looptime
async def test_the_live_log_has_the_records_made_before_it_and_each_run_its_session(tmp_path):
    import asyncio
    import json

    from phone_tui.modem.intercept import LawfulIntercept
    from phone_tui.modem.intercept_log import InterceptLog

    path = tmp_path / "li.jsonl"
    for run in range(2):  # two runs of the stage: seq starts again, the session tells them apart
        intercept = LawfulIntercept(lambda: 1_800_000_000.0)
        intercept.emit("IRI-REPORT", "registration", calling="+1", called="", direction="",
                       state="registered")  # before the log is followed
        log = InterceptLog(path)
        task = asyncio.get_running_loop().create_task(log.follow(intercept))
        await asyncio.sleep(0)
        intercept.emit("IRI-REPORT", "sms", calling="+1", called="+2", sms_text=f"run {run}")
        await asyncio.sleep(0.1)
        task.cancel()
        log.close()
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [(line["seq"], line["service"]) for line in lines] == [
        (1, "registration"), (2, "sms"), (1, "registration"), (2, "sms")]
    assert lines[0]["session"] == lines[1]["session"] != lines[2]["session"]


def test_the_live_log_says_a_missing_folder_or_a_link_in_one_line(tmp_path):
    from phone_tui.modem.intercept_log import InterceptLog, InterceptLogError

    with pytest.raises(InterceptLogError, match="folder .*nowhere does not exist"):
        InterceptLog(tmp_path / "nowhere" / "li.jsonl")
    (tmp_path / "target").write_text("")
    (tmp_path / "link").symlink_to(tmp_path / "target")
    with pytest.raises(InterceptLogError, match="is a symbolic link"):
        InterceptLog(tmp_path / "link")


async def test_the_intercept_list_keeps_the_newest_record_in_sight_when_a_pane_opens_below(
        stage_factory):
    app = await stage_factory()
    for handset in app.stage.handsets:
        handset.switch_persona("open")
    async with app.run_test(size=(150, 50)) as pilot:
        await settle(pilot)
        await pilot.press("f12")
        await settle(pilot)
        view = app.query_one(InterceptView)
        listing = view.query_one(OptionList)
        for n in range(40):
            app._network.intercept.emit("IRI-REPORT", "sms", calling="+1", called="+2",
                                        sms_text=f"text {n}")
        await wait_for(pilot, lambda: view.caught_up)
        await settle(pilot)
        app.set_active(0, focus=True)
        await settle(pilot)
        app.stage.fake_cell(0, True)  # the attacker's pane opens below: the list gets shorter
        app.query_one("AttackerView").show_records()
        await settle(pilot)
        await settle(pilot)
        assert listing.option_count - 1 in _visible_rows(listing)
