"""Where a chat opens and where it stays: at the first unread message, else at the newest; a
message arriving at the bottom keeps the chat there; one's own message scrolls into view."""

from __future__ import annotations

from dataclasses import replace

from test_messages_app import FULL, top

from phone_tui.testing import (
    SIZE,
    TEST_PIN,
    enter_pin,
    make_app,
    make_handset,
    open_app,
    set_up,
    settle,
    wait_for,
)
from phone_tui.ui.handset_view import HandsetView
from phone_tui.ui.views.messages import ChatView
from phone_tui.ui.widgets.chat_log import ChatLog

DESK = "+86 190 0000 0120"


def history(handset, clock, count: int, *, unread_from: int | None = None) -> None:
    """``count`` messages with the desk, alternating sides, long enough to need scrolling."""
    store = handset.persona.store
    with store.transaction():
        for i in range(count):
            incoming = i % 2 == 1
            unread = int(incoming and unread_from is not None and i >= unread_from)
            store.execute(
                "INSERT INTO messages (uuid, number, outgoing, body, state, at, unread) "
                "VALUES (?, ?, ?, ?, 'read', ?, ?)",
                (f"h{i}", DESK, int(not incoming), f"old message {i} " + "word " * 12,
                 clock.now() + i, unread))


def visible(log: ChatLog) -> list[str]:
    """The lines of the log on screen now."""
    lines = log.styled_text().splitlines()
    top_line = int(log.scroll_offset.y)
    return lines[top_line:top_line + log.scrollable_content_region.height]


def first_line_of(log: ChatLog, words: str) -> int:
    return next(i for i, line in enumerate(log.styled_text().splitlines()) if words in line)


async def test_a_reply_that_came_while_locked_opens_at_the_first_unread_message(data_dir, clock):
    """The review's keys: ask the desk, Ctrl+S and Ctrl+L at once, unlock, Enter, Enter. The
    chat opens on the unread answer (its first line in view, the messages before it above),
    not on the oldest messages with the answer below the fold."""
    handset = make_handset(data_dir, clock=clock, settings=FULL)
    await set_up(handset, locked=False)
    app = make_app(data_dir, handset=handset, settings=FULL)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        for bot in app.bots:  # the desk answers after the phone is locked, as people type
            bot.seed = replace(bot.seed, reply_delay=1.0, read_delay=0.0)
        history(handset, clock, 30)
        await open_app(pilot, "messages")
        await pilot.press("enter")  # the desk: the newest conversation
        await settle(pilot)
        assert isinstance(top(app), ChatView)
        await pilot.press(*"what can the carrier see?", "ctrl+s", "ctrl+l")
        await settle(pilot)
        await wait_for(pilot, lambda: bool(app.query("#pin-pad")))
        await enter_pin(pilot, TEST_PIN)
        await wait_for(pilot, lambda: handset.messenger is not None
                       and handset.messenger.unread_count() > 0)
        await settle(pilot)
        await pilot.press("enter")  # Messages
        await settle(pilot)
        await pilot.press("enter")  # IT Security Desk
        await settle(pilot)
        await pilot.pause()
        chat = top(app)
        assert isinstance(chat, ChatView) and chat.number == DESK
        log = app.query_one(ChatLog)
        answer = first_line_of(log, "Not the content.")
        shown = visible(log)
        assert any("Not the content." in line for line in shown), shown
        # The messages before it are above it (it is not at the very top of the history).
        assert int(log.scroll_offset.y) > 0 and answer - int(log.scroll_offset.y) <= 4


async def test_many_unread_messages_open_at_the_first_of_them(data_dir, clock):
    """More unread than a screen holds: the first unread is near the top, its predecessor
    just above it, and the newest below the fold."""
    handset = make_handset(data_dir, clock=clock, settings=FULL)
    await set_up(handset, locked=False)
    app = make_app(data_dir, handset=handset, settings=FULL)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        history(handset, clock, 40, unread_from=21)
        app.query_one(HandsetView).push(ChatView(DESK))
        await settle(pilot)
        await pilot.pause()
        log = app.query_one(ChatLog)
        first = first_line_of(log, "old message 21 ")
        y = first - int(log.scroll_offset.y)
        assert 1 <= y <= 4, (y, visible(log))
        assert not any("old message 39 " in line for line in visible(log))
        assert handset.messenger.unread_count() == 0  # shown, so read


async def test_a_chat_without_unread_opens_at_the_newest_on_every_visit(data_dir, clock):
    """Scrolled up and left, the chat opens again at the newest message, not where it was."""
    handset = make_handset(data_dir, clock=clock, settings=FULL)
    await set_up(handset, locked=False)
    app = make_app(data_dir, handset=handset, settings=FULL)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        history(handset, clock, 30)
        await open_app(pilot, "messages")
        for _visit in range(2):
            await pilot.press("enter")
            await settle(pilot)
            await pilot.pause()
            log = app.query_one(ChatLog)
            assert log.max_scroll_y > 0
            assert log.scroll_y == log.max_scroll_y, (log.scroll_y, log.max_scroll_y)
            assert any("old message 29 " in line for line in visible(log))
            # The scrollbar's thumb says so too (it sat at the top when the chat opened).
            assert log.show_vertical_scrollbar
            assert log.vertical_scrollbar.position == log.scroll_y
            log.scroll_to(y=5, animate=False, immediate=True)  # the user reads older ones
            await pilot.pause()
            await pilot.press("escape")
            await settle(pilot)


async def test_a_message_arriving_at_the_bottom_keeps_the_chat_at_the_bottom(data_dir, clock):
    """At the bottom, a new message is shown (the chat follows); scrolled up, the lines the
    user reads stay put; a message the user sends scrolls into view either way."""
    handset = make_handset(data_dir, clock=clock, settings=FULL)
    await set_up(handset, locked=False)
    app = make_app(data_dir, handset=handset, settings=FULL)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        history(handset, clock, 30)
        messenger = handset.messenger
        app.query_one(HandsetView).push(ChatView(DESK))
        await settle(pilot)
        await pilot.pause()
        log = app.query_one(ChatLog)
        assert log.scroll_y == log.max_scroll_y
        messenger.send_text(DESK, "what can the carrier see?")  # the desk answers
        await wait_for(pilot, lambda: any("Not the content." in m.body for m in log.messages))
        await pilot.pause()
        assert log.scroll_y == log.max_scroll_y
        assert visible(log)[-2].strip() == "contact."  # the answer's last line, in view
        # Scrolled up: an arriving answer leaves the lines being read where they are.
        log.scroll_to(y=10, animate=False, immediate=True)
        await pilot.pause()
        reading = visible(log)
        messenger.send_text(DESK, "why are there two OSes?")
        await wait_for(pilot, lambda: any("Two OSes" in m.body for m in log.messages))
        await pilot.pause()
        assert visible(log) == reading
        # Sent by the user: the chat goes to it.
        app.query_one("#chat-compose").text = "thanks, that helps"
        await pilot.press("ctrl+s")
        await settle(pilot)
        await pilot.pause()
        assert any("thanks, that helps" in line for line in visible(log))
        assert log.scroll_y == log.max_scroll_y
