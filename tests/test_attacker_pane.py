"""The stage's attacker pane (ui/widgets/attacker_view.py): what a fake base station caught
is read from the air, so its text, peer and victim are never markup, never raw control
characters on the presenter's terminal, and bounded."""

from __future__ import annotations

from textual.app import App, ComposeResult

from phone_tui.core.clock import ManualClock
from phone_tui.modem.rogue import AttackerRecord, AttackerTap
from phone_tui.ui.widgets.attacker_view import LINE_TEXT, NAME_TEXT, AttackerView, attacker_line

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
        assert {str(span.style) for span in line.spans} == {"bold", "bold $text-error"}


def test_the_peer_the_victim_and_their_names_are_escaped_and_bounded():
    peer = "[$text-success]+1\x1b]52;c;eA==\x07" + "9" * 500
    names = {VICTIM: "[b]Minister[/b] \u202eLi"}
    line = attacker_line(_sms("hello", peer=peer), names)
    assert "\x1b" not in str(line) and "\x07" not in str(line) and "\u202e" not in str(line)
    assert str(line).startswith("[b]Minister[/b] \\u202eLi \u2190 [$text-success]+1\\x1b]52")
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
