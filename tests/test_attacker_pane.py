"""The stage's attacker pane (ui/widgets/attacker_view.py): what a fake base station caught
is read from the air, so its text, peer and victim are never markup, never raw control
characters on the presenter's terminal, and bounded."""

from __future__ import annotations

from textual.app import App, ComposeResult

from phone_tui.core.clock import ManualClock
from phone_tui.modem.rogue import AttackerRecord, AttackerTap
from phone_tui.ui.widgets.attacker_view import (
    LINE_TEXT,
    NAME_TEXT,
    AttackerView,
    attacker_line,
    summarise,
)

VICTIM, PEER = "+8619000000001", "+8619000000002"
OSC52 = "hi\x1b]52;c;cm0gLXJmIH4=\x1b\\\x1b[2J"
HOSTILE = [OSC52, "pay [$text-success]APPROVED by GovNet[/] now", "x [$nosuchvar]y",
           "[b]bold[/b] [link=http://x]y[/link]", "left\u202ethgir", "a\x1b[31mred"]


def _sms(text: str, phone: str = VICTIM, peer: str = PEER) -> AttackerRecord:
    return AttackerRecord(0.0, "imsi-catcher", phone, "down", "sms", peer, text, len(text))


def test_a_hostile_sms_text_is_shown_literally_with_its_controls_escaped():
    for text in HOSTILE:
        line = attacker_line(_sms(text), {})
        assert "\x1b" not in str(line) and "\u202e" not in str(line)
        shown = text.replace("\\", "\\\\").replace("\x1b", "\\x1b").replace("\u202e", "\\u202e")
        assert f'"{shown}"' in str(line), text
        # The only styles are the pane's own: nothing the text wrote became a span.
        assert {str(span.style) for span in line.spans} == {"dim", "bold", "bold $text-error"}


def test_the_peer_the_victim_and_their_names_are_escaped_and_bounded():
    peer = "[$text-success]+1\x1b]52;c;eA==\x07" + "9" * 500
    line = attacker_line(_sms("hello", peer=peer), victim="[b]4609[/b] \u202eLi")
    assert "\x1b" not in str(line) and "\x07" not in str(line) and "\u202e" not in str(line)
    assert str(line).startswith(
        "00:00:00 [b]4609[/b] \\u202eLi \u2190 [$text-success]+1\\x1b]52")
    assert len(str(line)) < 2 * NAME_TEXT + 40
    identity = AttackerRecord(0.0, "imsi-catcher", VICTIM, "", "imsi", "", "\x1b[2J" * 100, 0)
    shown = str(attacker_line(identity, {}))
    assert "\x1b" not in shown and shown.endswith("\u2026")


def test_a_long_text_costs_a_bounded_line():
    line = attacker_line(_sms("A" * 100_000), {})
    assert len(str(line)) < LINE_TEXT + 60 and str(line).endswith('\u2026"')


class _Pane(App):
    def compose(self) -> ComposeResult:
        yield AttackerView(ManualClock(), id="atk")


async def test_the_pane_writes_no_escape_to_the_terminal_and_shows_markup_as_typed():
    app = _Pane()
    tap = AttackerTap()
    for text in (OSC52, "pay [$text-success]APPROVED[/] now", "[b]bold[/b]"):
        tap.publish(_sms(text))
    async with app.run_test(size=(150, 12)) as pilot:
        app.query_one(AttackerView).watch(tap, is_on=lambda: True)
        await pilot.pause()
        update = app.screen._compositor.render_full_update()
        out = "".join(update.render_segments(app.console))
        screen = "\n".join(strip.text for strip in app.screen._compositor.render_strips())
    assert "\x1b]52" not in out and "\x1b[2J" not in out
    assert "\\x1b]52;c;cm0gLXJmIH4=" in screen
    assert "pay [$text-success]APPROVED[/] now" in screen and "[b]bold[/b]" in screen
    assert "Fake base station (attacker's tap, A5/0: no cipher)" in screen


def _voice(time: float, direction: str, frames: int, what: str = "e2e-call") -> AttackerRecord:
    return AttackerRecord(time, "imsi-catcher", VICTIM, direction, what, PEER, "ciphertext", 68,
                          frames)


def test_a_call_is_one_line_updated_and_the_identities_stay_pinned():
    records = [AttackerRecord(0.0, "imsi-catcher", VICTIM, "", "imsi", "", "460990000000001",
                              15),
               AttackerRecord(0.0, "imsi-catcher", VICTIM, "", "imei", "", "864175030000019",
                              15)]
    for second in range(60):  # a minute of voice, a record a second each way
        records += [_voice(1.0 + second, "up", 1 + 50 * second),
                    _voice(1.0 + second, "down", 1 + 50 * second)]
    records.append(_sms("after the call"))
    pinned, lines = summarise(records)
    assert [str(line) for line in pinned] == [
        "00:00:00 +8619000000001  IMSI 460990000000001",
        "00:00:00 +8619000000001  IMEI 864175030000019"]
    [call, sms] = [str(line) for line in lines]
    # The victim as the catcher knows it (its IMSI), the peer by number; one line per call.
    assert call == ("00:00:01 460990000000001 \u2194 +8619000000002  E2E call: ciphertext  "
                    "5902 frames, 401336 B, 59 s")
    assert sms.startswith("00:00:00 460990000000001 \u2190 +8619000000002  SMS")
    # Voice again after a pause: a new call, a new line.
    _, lines = summarise([*records, _voice(100.0, "up", 1)])
    assert len(lines) == 3 and "1 frames, 68 B, 0 s" in str(lines[-1])


async def test_the_pane_shows_the_identities_above_a_flood_of_voice():
    app = _Pane()
    tap = AttackerTap()
    tap.publish(AttackerRecord(0.0, "imsi-catcher", VICTIM, "", "imsi", "", "460990000000001",
                               15))
    for second in range(200):
        tap.publish(_voice(1.0 + second, "up", 1 + 50 * second, what="call"))
        tap.publish(_sms(f"text {second}"))
    async with app.run_test(size=(150, 12)) as pilot:
        app.query_one(AttackerView).watch(tap, is_on=lambda: True)
        await pilot.pause()
        screen = "\n".join(strip.text for strip in app.screen._compositor.render_strips())
    assert "IMSI 460990000000001" in screen and 'SMS "text 199"' in screen
    assert screen.count("voice decodable") == 1
    assert "Minister" not in screen
