"""How a chat is drawn: bubbles up to four fifths of the width with words whole, and a one-column
scrollbar in the theme's colours beside ticks that stay put."""

from __future__ import annotations

from test_chat_position import DESK, history
from test_messages_app import FULL

from phone_tui.handset.messenger import Message
from phone_tui.testing import SIZE, make_app, make_handset, set_up, settle
from phone_tui.ui.handset_view import HandsetView
from phone_tui.ui.views.messages import ChatView
from phone_tui.ui.widgets.chat_log import ChatLog

ANSWER = ("Two OSes keep classified work apart from everyday use on one handset. The Secure OS "
          "runs on cellular only (no camera, GPS, Wi-Fi or Bluetooth); the Open OS has the "
          "everyday radios and apps.")


async def test_a_reply_bubble_takes_four_fifths_of_the_chat_and_keeps_words_whole(
        data_dir, clock):
    handset = make_handset(data_dir, clock=clock, settings=FULL)
    await set_up(handset, locked=False)
    app = make_app(data_dir, handset=handset, settings=FULL)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        log_view = ChatView(DESK)
        app.query_one(HandsetView).push(log_view)
        await settle(pilot)
        log = app.query_one(ChatLog)
        log.set_messages([Message(1, "a", DESK, False, ANSWER, "received", "", clock.now(),
                                  False, None)])
        await pilot.pause()
        width = log.scrollable_content_region.width
        bubble = [line.strip() for line in log.styled_text().splitlines()[:-2]]
        assert max(len(line) for line in bubble) > width * 3 // 4 - 2  # wider than before
        assert max(len(line) for line in bubble) <= width * 4 // 5
        assert len(bubble) <= 6, bubble  # it was 9 lines at 26 columns
        assert not any(line.endswith("-") for line in bubble), bubble  # "Wi-Fi" is one word
        assert any("Wi-Fi" in line for line in bubble)


async def test_the_chat_scrollbar_is_one_column_in_the_theme_s_colours(data_dir, clock):
    """In every shipped theme: one column, its track and thumb the theme's variables, the
    thumb distinct from the track; the ticks keep their column beside it."""
    handset = make_handset(data_dir, clock=clock, settings=FULL)
    await set_up(handset, locked=False)
    app = make_app(data_dir, handset=handset, settings=FULL)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        history(handset, clock, 30)
        app.query_one(HandsetView).push(ChatView(DESK))
        await settle(pilot)
        for theme in ("secure", "open", "high-contrast"):
            app.theme = theme
            await pilot.pause()
            log = app.query_one(ChatLog)
            assert log.max_scroll_y > 0 and log.show_vertical_scrollbar
            assert log.styles.scrollbar_size_vertical == 1
            assert log.scrollable_content_region.width == log.region.width - 1
            variables = app.get_css_variables()
            track, thumb = log.styles.scrollbar_background, log.styles.scrollbar_color
            assert track.hex.lower() == variables["panel"].lower()
            assert thumb.hex.lower() == variables["foreground-muted"].lower()
            assert abs((track + thumb).brightness - track.brightness) > 0.3, theme
