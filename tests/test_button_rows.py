"""Rows of buttons: ← and → move among the row's enabled buttons and stop at its ends; contact
info keeps the keyboard on its buttons after verifying and coming back; "✓ Verified" reads."""

from __future__ import annotations

from test_messages_app import FULL, top

from phone_tui.testing import SIZE, TEST_PIN, make_app, make_handset, set_up, settle
from phone_tui.ui.handset_view import HandsetView
from phone_tui.ui.views.messages import ChatView, ContactInfoView, DisappearingView

DESK = "+86 190 0000 0120"


def focused_id(app) -> str | None:
    return getattr(app.screen.focused, "id", None)


async def test_contact_info_keeps_the_keyboard_on_its_buttons(data_dir, clock):
    """The review's keys: Ctrl+O, Enter (Mark verified), then Right/Left/Enter; Escape and
    Ctrl+O again; Right Enter (Timer), Escape, Left: the keyboard never leaves the row."""
    handset = make_handset(data_dir, clock=clock, settings=FULL)
    await set_up(handset, locked=False)
    app = make_app(data_dir, handset=handset, settings=FULL)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        handset.messenger.know_identity(DESK, b"\x01" * 32)
        app.query_one(HandsetView).push(ChatView(DESK))
        await settle(pilot)
        await pilot.press("ctrl+o")
        await settle(pilot)
        assert isinstance(top(app), ContactInfoView)
        assert focused_id(app) == "info-verify"
        from test_ui_flow import _footer_text

        assert "⏎ Choose" in _footer_text(app)  # the footer offers Enter for the button
        await pilot.press("left")  # the row's first button: it stays there
        assert focused_id(app) == "info-verify"
        await pilot.press("enter")
        await settle(pilot)
        assert handset.messenger.contact(DESK).verified
        assert focused_id(app) == "info-timer"  # not lost with the disabled button
        await pilot.press("left")  # "✓ Verified" is skipped: Timer is the first one now
        assert focused_id(app) == "info-timer"
        await pilot.press("right")
        assert focused_id(app) == "info-call"
        await pilot.press("left")
        assert focused_id(app) == "info-timer"
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(top(app), DisappearingView)
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(top(app), ContactInfoView) and focused_id(app) == "info-timer"
        # Unverified again (say the number changed and was accepted): back to both buttons.
        handset.messenger.know_identity(DESK, b"\x42" * 32)
        handset.messenger.accept_identity(DESK)
        top(app).refresh_info()
        await pilot.pause()
        await pilot.press("escape")
        await settle(pilot)
        await pilot.press("ctrl+o")
        await settle(pilot)
        assert focused_id(app) == "info-verify"
        await pilot.press("right", "enter")
        await settle(pilot)
        assert isinstance(top(app), DisappearingView)
        await pilot.press("escape")
        await settle(pilot)
        assert focused_id(app) == "info-timer"
        await pilot.press("right", "right")  # Call, the end of the row: it stays there
        assert focused_id(app) == "info-call"
        await pilot.press("left", "left", "enter")
        await settle(pilot)
        assert handset.messenger.contact(DESK).verified


async def test_the_duress_offer_s_arrows_stop_at_the_row_s_ends(data_dir, clock):
    handset = make_handset(data_dir, clock=clock)
    app = make_app(data_dir, handset=handset)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press(*TEST_PIN, "enter")
        await settle(pilot)
        await pilot.press(*TEST_PIN, "enter")
        await settle(pilot)
        assert focused_id(app) == "duress-skip"
        await pilot.press("right", "right")
        assert focused_id(app) == "duress-set"
        await pilot.press("left", "left", "left")
        assert focused_id(app) == "duress-skip"


def contrast(one, two) -> float:
    """WCAG 2 contrast ratio of two opaque colours."""
    def luminance(color) -> float:
        def channel(value: int) -> float:
            c = value / 255
            return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4
        return 0.2126 * channel(color.r) + 0.7152 * channel(color.g) + 0.0722 * channel(color.b)
    high, low = sorted((luminance(one), luminance(two)), reverse=True)
    return (high + 0.05) / (low + 0.05)


async def test_verified_reads_in_every_theme(data_dir, clock):
    """The disabled "✓ Verified" is drawn in the theme's success text colour at full
    strength: at least 4.5:1 against its background (WCAG AA), high contrast included."""
    handset = make_handset(data_dir, clock=clock, settings=FULL)
    await set_up(handset, locked=False)
    app = make_app(data_dir, handset=handset, settings=FULL)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        handset.messenger.know_identity(DESK, b"\x01" * 32)
        handset.messenger.mark_verified(DESK)
        app.query_one(HandsetView).push(ContactInfoView(DESK))
        await settle(pilot)
        button = app.query_one("#info-verify")
        assert button.disabled and "Verified" in str(button.label)
        for theme in ("secure", "open", "high-contrast"):
            app.theme = theme
            await pilot.pause()
            (segment,) = [s for s in button.render_line(0) if "Verified" in s.text]
            style = segment.style
            fg, bg = style.color.triplet, style.bgcolor.triplet
            from textual.color import Color
            ratio = contrast(Color(*fg), Color(*bg))
            assert ratio >= 4.5, (theme, fg, bg, ratio)
