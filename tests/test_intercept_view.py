"""The stage's lawful-intercept view (ui/widgets/intercept_view.py), its export and the live
log (modem/intercept_log.py, ``demo --intercept-log``)."""

from __future__ import annotations

import json
import os
import random
import stat

import pytest
from textual.widgets import OptionList, Static

from phone_tui.core.clock import ManualClock
from phone_tui.handset.device import load_device
from phone_tui.handset.stage import Stage, load_stage_seeds
from phone_tui.modem.bus import Bus
from phone_tui.modem.intercept import IriRecord, LawfulIntercept
from phone_tui.modem.intercept_log import InterceptLog, InterceptLogError
from phone_tui.modem.profiles import load_profiles
from phone_tui.testing import FAST_KDF, settle, wait_for
from phone_tui.ui.stage_app import StageApp
from phone_tui.ui.themes import load_themes
from phone_tui.ui.widgets.intercept_view import (
    MAX_CELLS,
    InterceptView,
    RecordDetail,
    clean,
    describe_record,
)

WALL = 1_800_000_000.25  # 2027-01-15 08:00:00.250 UTC
WIDE = (130, 45)
HOSTILE = "[b]bold[/b] [link=http://x]y[/link]\x1b[31m\u202eevil\u2066\n\x00end"


def _intercept() -> LawfulIntercept:
    intercept = LawfulIntercept(lambda: WALL)
    intercept.identities["+1"] = ("460990000000001", "864175030000019")
    intercept.cells["+1"] = "lte-1"
    return intercept


def test_control_bidi_and_format_characters_are_written_as_escapes():
    shown = clean(HOSTILE)
    assert "\x1b" not in shown and "\u202e" not in shown and "\x00" not in shown
    assert "\u2066" not in shown and "\n" not in shown
    assert "\\x1b[31m" in shown and "\\u202e" in shown and "\\n" in shown and "\\x00" in shown
    assert shown.startswith("[b]bold[/b]")  # markup is text, shown as typed
    assert clean("a" * 50, 10) == "a" * 10 + "\u2026"


def test_an_sms_line_quotes_its_text_escaped_and_markup_is_never_parsed():
    intercept = _intercept()
    record = intercept.emit("IRI-REPORT", "sms", calling="+1", called="+2",
                            state="submitted", sms_text=HOSTILE, content="clear", size=60)
    line = describe_record(record, {"+1": "Minister Li, Open OS"}, width=None)
    text = line.plain
    assert text.startswith("08:00:00.250 IRI-REPORT sms")
    assert "Minister Li, Open OS (+1) \u2192 +2" in text
    assert "IMSI 460990000000001" in text and "lte-1" in text and "submitted" in text
    assert '"[b]bold[/b] [link=http://x]y[/link]\\x1b[31m\\u202eevil' in text
    assert all(span.style != "bold" or "bold" not in text[span.start:span.end]
               for span in line.spans)  # [b] made no span
    assert "\x1b" not in text and "\u202e" not in text


def test_a_long_sms_is_cut_on_its_line_and_one_line_costs_at_most_max_cells():
    intercept = _intercept()
    record = intercept.emit("IRI-REPORT", "sms", calling="+1", called="+2",
                            sms_text="\u6f22" * 9000, content="clear")
    line = describe_record(record)
    assert line.cell_len <= MAX_CELLS
    narrow = describe_record(record, width=60)
    assert narrow.cell_len <= 60
    short = describe_record(intercept.emit("IRI-REPORT", "sms", calling="+1", called="+2",
                                           sms_text="x" * 200), width=None)
    assert "(200 chars: Enter for all)" in short.plain


def test_an_e2e_message_line_says_ciphertext_and_its_size_never_a_text():
    intercept = _intercept()
    record = intercept.emit("IRI-REPORT", "e2e-message", calling="+1", called="+2",
                            state="routed", content="ciphertext", size=333, ref="ab")
    text = describe_record(record).plain
    assert "e2e-message" in text and "ciphertext, 333 bytes" in text and '"' not in text


def test_call_lines_show_state_duration_release_reason_and_hi3():
    intercept = _intercept()
    end = intercept.emit("IRI-END", "call", calling="+1", called="+2", state="released",
                         duration_s=75.4, release_reason="normal clearing")
    hi3 = intercept.emit("HI3", "call", calling="+1", called="+2", content="decodable",
                         codec="AMR-WB", frames=3770, size=120_000, state="released")
    e2e = intercept.emit("HI3", "e2e-call", calling="+1", called="+2", content="ciphertext",
                         frames=1, state="released")
    started = intercept.emit("HI3", "call", calling="+1", called="+2", content="decodable",
                             codec="opus-16k", frames=1, state="answered")
    assert "released  1:15  normal clearing" in describe_record(end).plain
    assert "HI3 decodable AMR-WB, 3770 frames" in describe_record(hi3).plain
    assert "HI3 ciphertext, 1 frame" in describe_record(e2e).plain
    # The record made when the voice starts has no totals yet ("1 frames" said nothing true).
    assert "HI3 decodable opus-16k, voice flowing" in describe_record(started).plain
    assert "frames" not in describe_record(started).plain


async def test_f12_switches_the_pane_to_intercept_records_and_back(stage_factory):
    app = await stage_factory()
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot)
        view = app.query_one(InterceptView)
        assert not view.display or not view.region.height
        # The footer is full at 100 columns (test_keys_help): the tap's state line says F12.
        assert "F12 intercept records" in str(app.query_one("#tap-state").content)
        await pilot.press("f12")
        await settle(pilot)
        assert app.intercept_shown and view.region.height > 0
        assert app.query_one("#tap").region.height == 0
        assert app.focused is view.query_one(OptionList)
        # The phones registered: their records are there (history and live).
        await wait_for(pilot, lambda: sum(r.service == "registration"
                                          for r in view.records) >= 2)
        li = app.stage.handsets[0]
        network = app._network
        network.intercept.emit("IRI-REPORT", "sms", calling=li.number, called="+1555",
                               state="submitted", sms_text="Meet at [b]five[/b]",
                               content="clear", size=18)
        await wait_for(pilot, lambda: any(r.service == "sms" for r in view.records))
        await settle(pilot)
        lines = [str(option.prompt) for option in view.query_one(OptionList)._options]
        [sms] = [line for line in lines if " sms " in line]
        assert '"Meet at [b]five[/b]"' in sms and "Minister Li" in sms
        rendered = "\n".join(strip.text for strip in app.screen._compositor.render_strips())
        assert "Meet at [b]five[/b]" in rendered
        await pilot.press("f12")
        await settle(pilot)
        assert not app.intercept_shown and app.query_one("#tap").region.height > 0
        assert app.focused in app.query_one("#handset-1").query("*")


async def test_enter_on_a_record_shows_every_field_and_the_full_text(stage_factory):
    app = await stage_factory()
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot)
        text = "A long text. " * 40 + "THE END\u202e"
        app._network.intercept.emit("IRI-REPORT", "sms", calling="+1", called="+2",
                                    state="delivered", sms_text=text, content="clear",
                                    size=len(text), ref="c0ffee")
        await pilot.press("f12")
        view = app.query_one(InterceptView)
        await wait_for(pilot, lambda: any(r.service == "sms" for r in view.records))
        await settle(pilot)
        listing = view.query_one(OptionList)
        listing.highlighted = len(view.records) - 1
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, RecordDetail)
        body = str(app.screen.query_one("#detail-body", Static).render())
        for name in IriRecord.__dataclass_fields__:
            assert name in body
        assert "THE END\\u202e" in body and "c0ffee" in body and "\u202e" not in body
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, RecordDetail)


async def test_x_in_the_intercept_view_exports_to_a_new_0600_file_never_over_one(stage_factory):
    app = await stage_factory()
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot)
        intercept = app._network.intercept
        await wait_for(pilot, lambda: len(intercept.recent) >= 2)
        intercept.emit("IRI-REPORT", "sms", calling="+1", called="+2", sms_text="hi \"you\"")
        # The first name this second is taken by a file that is not ours.
        stamp = "20260101-094100"
        folder = app.stage.root.parent / "intercept"  # beside the stage: --fresh keeps it
        folder.mkdir(mode=0o700)
        taken = folder / f"intercept-{stamp}.jsonl"
        taken.write_text("mine")
        await pilot.press("f12")  # the intercept records; x in them exports
        await settle(pilot)
        await pilot.press("x")
        await settle(pilot)
        written = folder / f"intercept-{stamp}-2.jsonl"
        assert taken.read_text() == "mine"
        assert stat.S_IMODE(written.stat().st_mode) == 0o600
        rows = [json.loads(line) for line in written.read_text().splitlines()]
        assert len(rows) == len(intercept.recent)
        assert set(rows[0]) == set(IriRecord.__dataclass_fields__)
        assert rows[-1]["sms_text"] == "hi \"you\""
        status = str(app.query_one("#stage-status").render())
        assert str(written) in status.replace("\n", "") or written.name in status


async def test_the_palette_has_the_mode_switch_and_the_export(stage_factory):
    from phone_tui.ui.stage_commands import StageCommands

    app = await stage_factory()
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot)
        commands = {title: callback for title, _, callback in
                    StageCommands(app.screen)._commands()}
        commands["Tap pane: frames / intercept records"]()
        await settle(pilot)
        assert app.intercept_shown
        assert "Export the intercept records" in commands


def test_the_keys_are_stage_bindings_and_the_tap_pane_says_f12():
    from phone_tui.ui import bindings
    ids = {binding.id: binding for binding in bindings.ALL}
    assert ids["stage.tap_mode"].key == "f12" and ids["intercept.export"].key == "x"
    assert "intercept.detail_close" in bindings.BINDING_IDS


# ---- the live log ------------------------------------------------------------------------------

def test_the_live_log_is_made_0600_and_appended_to_across_a_restart(tmp_path):
    intercept = _intercept()
    path = tmp_path / "li.jsonl"
    log = InterceptLog(path)
    log.write(intercept.emit("IRI-REPORT", "sms", calling="+1", called="+2", sms_text="one"))
    log.close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = InterceptLog(path)  # a new run over the same file: ours, appended to
    again.write(intercept.emit("IRI-REPORT", "e2e-message", calling="+1", called="+2",
                               content="ciphertext", size=9))
    again.close()
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["service"] for r in rows] == ["sms", "e2e-message"]
    assert rows[1]["sms_text"] is None


@pytest.mark.looptime
async def test_the_live_log_stops_at_its_size_cap_and_says_so_in_one_line(tmp_path):
    import asyncio

    path = tmp_path / "li.jsonl"
    bus = Bus(random.Random(4), wall=lambda: WALL)
    log = InterceptLog(path, limit=4000)
    task = asyncio.get_running_loop().create_task(log.follow(bus.intercept))
    await asyncio.sleep(0)
    for n in range(100):
        bus.intercept.emit("IRI-REPORT", "sms", calling="+1", called="+2", sms_text=f"n{n}")
    await asyncio.sleep(0.1)
    assert task.done() and task.exception() is None  # it stopped following: full
    log.close()
    size = path.stat().st_size
    assert 3000 < size <= 4000 and log.size == size and 0 < log.written < 100
    rows = [json.loads(line) for line in path.read_text().splitlines()]  # whole records
    assert len(rows) == log.written
    assert log.stopped is not None and "\n" not in log.stopped
    assert str(path) in log.stopped and f"from record {log.written + 1} on" in log.stopped
    again = InterceptLog(path, limit=4000)  # still one of ours; still full
    assert not again.write(bus.intercept.emit("IRI-REPORT", "sms", calling="+1", called="+2"))
    again.close()
    assert path.stat().st_size == size


@pytest.mark.parametrize("content", ["my notes\n", "{\"a\": 1}\n", ""])
def test_a_file_phone_tui_did_not_make_is_refused_and_left_as_it_is(tmp_path, content):
    path = tmp_path / "notes.jsonl"
    path.write_text(content)
    os.chmod(path, 0o644)  # not 0600: not one of ours
    with pytest.raises(InterceptLogError, match="notes.jsonl"):
        InterceptLog(path)
    assert path.read_text() == content
    if content:
        os.chmod(path, 0o600)
        with pytest.raises(InterceptLogError, match="not a phone-tui intercept log"):
            InterceptLog(path)
        assert path.read_text() == content


def test_a_link_is_refused(tmp_path):
    target = tmp_path / "target"
    target.write_text("")
    (tmp_path / "link").symlink_to(target)
    with pytest.raises(InterceptLogError):
        InterceptLog(tmp_path / "link")


@pytest.mark.looptime
async def test_the_live_log_follows_the_carrier():
    import asyncio
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "li.jsonl"
        bus = Bus(random.Random(3), wall=lambda: WALL)
        log = InterceptLog(path)
        task = asyncio.get_running_loop().create_task(log.follow(bus.intercept))
        await asyncio.sleep(0)
        bus.intercept.emit("IRI-REPORT", "sms", calling="+1", called="+2", sms_text="live")
        await asyncio.sleep(0.1)
        task.cancel()
        log.close()
        assert json.loads(path.read_text())["sms_text"] == "live"


def test_demo_refuses_an_intercept_log_it_did_not_make_in_one_line(tmp_path, capsys):
    from phone_tui import cli

    mine = tmp_path / "mine.txt"
    mine.write_text("keep me")
    assert cli.main(["--data-dir", str(tmp_path), "demo", "--intercept-log", str(mine)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "mine.txt" in err
    assert mine.read_text() == "keep me"


def test_demo_opens_the_intercept_log_for_the_stage(tmp_path):
    from phone_tui import cli

    path = tmp_path / "li.jsonl"
    args = cli.parser().parse_args(["--data-dir", str(tmp_path), "demo", "--intercept-log",
                                    str(path)])
    app = cli.build_stage(args, str(tmp_path))
    assert app.intercept_log is not None and app.intercept_log.path == path
    app.intercept_log.close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


async def test_the_stage_says_in_one_line_when_its_live_log_is_full(stage_factory, tmp_path):
    app = await stage_factory()
    app.intercept_log = InterceptLog(tmp_path / "li.jsonl", limit=500)  # about one record
    said: list[str] = []
    app.notify = lambda message, **_kwargs: said.append(message)  # type: ignore[method-assign]
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot)
        for n in range(3):
            app._network.intercept.emit("IRI-REPORT", "sms", calling="+1", called="+2",
                                        sms_text=f"n{n}")
        await wait_for(pilot, lambda: said)
    app.intercept_log.close()
    assert said == [app.intercept_log.stopped] and "li.jsonl" in said[0]


# ---- a snapshot --------------------------------------------------------------------------------

def test_intercept_view_snapshot(snap_compare, tmp_path):
    import asyncio

    async def build() -> StageApp:
        stage = Stage(tmp_path / "stage", 2, clock=ManualClock(), device=load_device(),
                      seeds=load_stage_seeds(), deterministic=True, profile="full",
                      kdf=FAST_KDF)
        await stage.prepare()
        return StageApp(stage, themes=load_themes(tmp_path / "themes"),
                        profiles=load_profiles(),
                        network=Bus(random.Random(7), wall=stage.clock.now))

    app = asyncio.run(build())

    async def records(pilot) -> None:
        await settle(pilot)
        intercept = pilot.app._network.intercept
        await wait_for(pilot, lambda: len(intercept.recent) >= 2)
        li, wang = pilot.app.stage.handsets
        intercept.emit("IRI-REPORT", "sms", calling=li.line_number("open"),
                       called=wang.line_number("open"), state="submitted",
                       sms_text="The budget is 4.2 million [b]final[/b]\u202e", content="clear",
                       size=45)
        intercept.emit("IRI-REPORT", "e2e-message", calling=li.number, called=wang.number,
                       state="routed", content="ciphertext", size=412)
        intercept.emit("IRI-END", "call", calling=li.line_number("open"),
                       called=wang.line_number("open"), state="released", duration_s=62.0,
                       release_reason="normal clearing")
        intercept.emit("HI3", "call", calling=li.line_number("open"),
                       called=wang.line_number("open"), content="decodable", codec="AMR",
                       frames=3100)
        await pilot.press("f12")
        view = pilot.app.query_one(InterceptView)
        await wait_for(pilot, lambda: view.caught_up and len(view.records) >= 6)
        await settle(pilot)

    assert snap_compare(app, terminal_size=WIDE, run_before=records)


async def test_the_view_keeps_the_last_500_records_each_line_fitting_the_pane(stage_factory):
    from phone_tui.ui.widgets.intercept_view import MAX_LINES

    app = await stage_factory()
    async with app.run_test(size=(100, 45)) as pilot:
        await settle(pilot)
        await pilot.press("f12")
        await settle(pilot)
        intercept = app._network.intercept
        for index in range(MAX_LINES + 100):
            intercept.emit("IRI-REPORT", "sms", calling="+1", called="+2",
                           sms_text=f"{index} " + "\u202e[red]x[/red]\x07" * 500)
        view = app.query_one(InterceptView)
        await wait_for(pilot, lambda: view.records and
                       view.records[-1].seq == intercept.recent[-1].seq)
        await settle(pilot)
        listing = view.query_one(OptionList)
        assert listing.option_count == MAX_LINES == len(view.records)
        assert str(listing.get_option_at_index(0).prompt).startswith(
            view.records[0].time[11:19])  # a narrow pane drops the milliseconds
        width = listing.scrollable_content_region.width
        assert all(option.prompt.cell_len < width for option in listing._options)
        rendered = "\n".join(strip.text for strip in app.screen._compositor.render_strips())
        assert "\u202e" not in rendered and "\x07" not in rendered
        assert "\\u202e[red]x[/red]\\x07" in rendered


def test_a_pane_too_narrow_for_everything_drops_the_imsi_before_the_sms_text():
    intercept = _intercept()
    intercept.identities["+8619040628269"] = ("460990271402212", "864175035274146")
    record = intercept.emit("IRI-REPORT", "sms", calling="+8619040628269",
                            called="+8619008771806", state="delivered", content="clear",
                            sms_text="Meet at the east gate at 17:00.")
    names = {"+8619040628269": "Minister Li, Open OS", "+8619008771806": "Director Wang, Open OS"}
    line = describe_record(record, names, width=125).plain
    assert '"Meet at the east gate at 17:00."' in line and "IMSI" not in line
    assert "IMSI 460990271402212" in describe_record(record, names, width=200).plain
