"""Disappearing messages in the Messages app: Signal's labels, the chat's notice, on-time expiry."""

from __future__ import annotations

from dataclasses import replace

from textual.widgets import OptionList, TextArea

from phone_tui.core.config import Settings
from phone_tui.testing import SIZE, make_app, make_handset, set_up, settle, wait_for
from phone_tui.ui.handset_view import HandsetView
from phone_tui.ui.views.messages import ChatView, ContactInfoView, DisappearingView
from phone_tui.ui.widgets.chat_log import ChatLog

FULL = Settings(link_profile="full")
ECHO = "+86 190 0000 0100"


def top(app):
    return app.query_one(HandsetView).top


async def test_the_timer_choice_uses_signals_labels_and_the_chat_says_when_it_changes(
        data_dir, clock):
    handset = make_handset(data_dir, clock=clock, settings=FULL)
    await set_up(handset, locked=False)
    app = make_app(data_dir, handset=handset, settings=FULL)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        for bot in app.bots:
            bot.seed = replace(bot.seed, reply_delay=0.0, read_delay=0.0)
        view = app.query_one(HandsetView)
        view.push(ChatView(ECHO))
        await settle(pilot)
        await pilot.click("#chat-info")
        await settle(pilot)
        assert isinstance(top(app), ContactInfoView)
        assert "Disappearing messages: off" in str(app.query_one("#info-text").render())
        await pilot.click("#info-timer")
        await settle(pilot)
        assert isinstance(top(app), DisappearingView)
        choices = app.query_one("#timer-list", OptionList)
        labels = [str(choices.get_option_at_index(i).prompt).strip("● ")
                  for i in range(choices.option_count)]
        assert labels == ["off", "30 s", "5 min", "1 h", "8 h", "1 day", "1 week", "4 weeks"]
        choices.highlighted = 1
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(top(app), ContactInfoView)
        assert "Disappearing messages: 30 s" in str(app.query_one("#info-text").render())
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(top(app), ChatView)
        log = app.query_one(ChatLog)
        assert [(m.kind, m.body) for m in log.messages] == [
            ("notice", "You set disappearing messages to 30 s.")]
        app.query_one(TextArea).text = "gone in 30 s"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: sum(m.kind == "text" for m in log.messages) == 2)
        reply = [m for m in log.messages if m.kind == "text" and not m.outgoing]
        assert reply and reply[0].expires_at is not None  # the bot's reply carries the timer
        # Both disappear from the open chat within a second of their 30 s.
        clock.advance(30)
        view.tick()
        await settle(pilot)
        assert [m.kind for m in log.messages] == ["notice"]
