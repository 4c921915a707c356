"""The Messages app, driven with Pilot: conversations, chat, ticks, safety numbers."""

from __future__ import annotations

from dataclasses import replace

from textual.widgets import OptionList, TextArea

from phone_tui.core.config import Settings
from phone_tui.testing import (
    SIZE,
    make_app,
    make_handset,
    notifications,
    open_app,
    set_up,
    settle,
)
from phone_tui.ui.handset_view import HandsetView
from phone_tui.ui.views.messages import ChatView, ContactInfoView, MessagesView
from phone_tui.ui.widgets.chat_log import ChatLog

FULL = Settings(link_profile="full")


async def ready(pilot) -> None:
    """Registered, bots answering at once."""
    await settle(pilot)
    for bot in pilot.app.bots:
        bot.seed = replace(bot.seed, reply_delay=0.0, read_delay=0.0)


async def wait_for(pilot, predicate, rounds: int = 50) -> None:
    for _ in range(rounds):
        if predicate():
            return
        await pilot.pause(0.02)
    raise AssertionError("condition not met")


def top(app):
    return app.query_one(HandsetView).top


async def test_send_to_the_echo_bot_and_see_reply_and_ticks(data_dir, clock):
    handset = make_handset(data_dir, clock=clock, settings=FULL)
    await set_up(handset, locked=False)
    app = make_app(data_dir, handset=handset, settings=FULL)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await open_app(pilot, "messages")
        assert isinstance(top(app), MessagesView)
        names = [str(app.query_one(OptionList).get_option_at_index(i).prompt)
                 for i in range(app.query_one(OptionList).option_count)]
        assert any("Echo" in name for name in names) and "New conversation" in names[0]
        app.query_one(OptionList).highlighted = 0
        await pilot.press("enter")
        await settle(pilot)
        contacts = app.query_one("#contact-list", OptionList)
        echo = next(i for i in range(contacts.option_count)
                    if contacts.get_option_at_index(i).id == "+86 190 0000 0100")
        contacts.highlighted = echo
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(top(app), ChatView)
        app.query_one(TextArea).text = "ping from the secure OS"
        await pilot.press("ctrl+s")
        log = app.query_one(ChatLog)
        await wait_for(pilot, lambda: len(log.messages) == 2 and log.messages[0].state == "read")
        assert [m.body for m in log.messages] == ["ping from the secure OS"] * 2
        assert "✓✓" in log.styled_text()
        tap = [r for r in handset.network.tap.recent if r.kind == "data"]
        assert tap and not any(b"ping from the secure OS" in r.data for r in tap)
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(top(app), MessagesView)


async def test_changed_safety_number_blocks_sending_until_accepted(data_dir, clock):
    handset = make_handset(data_dir, clock=clock, settings=FULL)
    await set_up(handset, locked=False)
    app = make_app(data_dir, handset=handset, settings=FULL)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        messenger = handset.messenger
        desk = "+86 190 0000 0120"
        messenger.send_text(desk, "hello")
        await wait_for(pilot, lambda: messenger.contact(desk).identity is not None)
        messenger._check_identity(desk, b"\x42" * 32)  # a man in the middle's key
        app.query_one(HandsetView).push(ChatView(desk))
        await settle(pilot)
        chat = top(app)
        assert chat.has_class("-identity-changed")
        app.query_one(TextArea).text = "secret plans"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert any("safety number" in text for text in notifications(app))
        assert app.query_one(TextArea).text == "secret plans"  # nothing lost
        await pilot.click("#chat-info")
        await settle(pilot)
        info = top(app)
        assert isinstance(info, ContactInfoView)
        text = str(app.query_one("#info-text").render())
        assert "safety number changed" in text
        digits = str(app.query_one("#info-number").render()).split()
        assert len(digits) == 12 and all(len(group) == 5 for group in digits)
        await pilot.click("#info-verify")
        await settle(pilot)
        assert messenger.contact(desk).verified and messenger.contact(desk).new_identity is None


async def test_a_ten_thousand_message_history_pages_in_both_directions(data_dir, clock):
    handset = make_handset(data_dir, clock=clock, settings=FULL)
    await set_up(handset, locked=False)
    app = make_app(data_dir, handset=handset, settings=FULL)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        number = "+86 190 0000 0110"
        store = handset.persona.store
        with store.transaction():
            for i in range(10_000):
                store.execute("INSERT INTO messages (uuid, number, outgoing, body, state, at) "
                              "VALUES (?, ?, ?, ?, 'read', ?)",
                              (f"m{i}", number, i % 2, f"message {i}", clock.now() + i))
        app.query_one(HandsetView).push(ChatView(number))
        await settle(pilot)
        chat = top(app)
        log = app.query_one(ChatLog)
        assert len(log.messages) == ChatView.PAGE and log.messages[-1].body == "message 9999"
        assert chat.load_older() == ChatView.PAGE
        assert log.messages[0].body == "message 9600"
        await pilot.press("ctrl+home")
        await settle(pilot)
        assert log.messages[0].body == "message 0" and log.scroll_y == 0
        for _ in range(6):
            chat.load_newer()
        assert len(log.messages) <= ChatView.WINDOW
        assert log.messages[-1].body == "message 1399"
        await pilot.press("ctrl+end")
        await settle(pilot)
        assert log.messages[-1].body == "message 9999"

        # Search: Ctrl+F, words, Enter, pick the result: the chat shows that message.
        await pilot.press("ctrl+f")
        await settle(pilot)
        await pilot.press(*"message 1234", "enter")
        await settle(pilot)
        assert "1 message" in str(app.query_one("#search-count").render())
        await pilot.press("enter")
        await settle(pilot)
        assert top(app) is chat
        bodies = [m.body for m in log.messages]
        assert "message 1234" in bodies and "message 9999" not in bodies
        target = bodies.index("message 1234")
        assert log.messages[target].id == log.messages[0].id + target


async def test_a_notice_is_one_centred_dim_line_in_the_chat():
    from textual.app import App

    from phone_tui.handset.messenger import Message

    class One(App):
        def compose(self):
            yield ChatLog()

    text = "Secure session with Bob restarted; message resent."
    messages = [Message(1, "a", "+2", True, "hello", "read", "", 0.0, False, None),
                Message(2, "b", "+2", False, text, "notice", "", 0.0, False, None, "notice")]
    async with One().run_test(size=(80, 20)) as pilot:
        log = pilot.app.query_one(ChatLog)
        log.set_messages(messages)
        await pilot.pause()
        lines = log.styled_text().splitlines()
        (notice,) = [line for line in lines if text in line]
        width = log.scrollable_content_region.width
        assert abs(len(notice) - len(notice.lstrip()) - (width - len(text)) // 2) <= 1
        y = lines.index(notice) - int(log.scroll_offset.y)
        strip = log.render_line(y)
        assert any(segment.text == text and segment.style.dim for segment in strip)


async def test_the_highlight_stays_on_its_conversation_when_a_message_reorders_the_list(
        data_dir, clock):
    """Newest first: a reply moves its conversation to the top. The highlight follows the
    conversation, not the row, so Enter opens the chat the user chose."""
    handset = make_handset(data_dir, clock=clock, settings=FULL)
    await set_up(handset, locked=False)
    app = make_app(data_dir, handset=handset, settings=FULL)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        messenger = handset.messenger
        duty, desk = "+86 190 0000 0110", "+86 190 0000 0120"
        messenger.send_text(duty, "first")
        messenger.send_text(desk, "second")  # the desk's conversation is now on top
        await open_app(pilot, "messages")
        options = app.query_one(OptionList)
        await wait_for(pilot, lambda: options.option_count > 2)
        ids = [options.get_option_at_index(i).id for i in range(options.option_count)]
        options.highlighted = ids.index(duty)
        messenger.send_text(desk, "third")  # the list refreshes; the desk stays on top
        messenger.send_text(duty, "fourth")  # now the duty officer moves to the top
        await wait_for(pilot, lambda: options.get_option_at_index(1).id == duty)
        assert options.get_option_at_index(options.highlighted).id == duty
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(top(app), ChatView) and top(app).number == duty


async def test_a_highlight_the_list_placed_stays_on_the_newest_conversation(data_dir, clock):
    """Opened, the list sits on the newest conversation; a message that moves another one to
    the top takes the highlight with it until the user moves it (Enter opens the newest)."""
    handset = make_handset(data_dir, clock=clock, settings=FULL)
    await set_up(handset, locked=False)
    app = make_app(data_dir, handset=handset, settings=FULL)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        messenger = handset.messenger
        duty, desk = "+86 190 0000 0110", "+86 190 0000 0120"
        messenger.send_text(desk, "first")
        await open_app(pilot, "messages")
        options = app.query_one(OptionList)
        await wait_for(pilot, lambda: options.option_count > 2)
        assert options.get_option_at_index(options.highlighted).id == desk
        messenger.send_text(duty, "now the newest")
        await wait_for(pilot, lambda: options.get_option_at_index(1).id == duty)
        await pilot.pause()
        assert options.highlighted == 1
        # Moved by the user (down, then back up onto the same row), it follows its
        # conversation again.
        await pilot.press("down", "up")
        await pilot.pause()
        messenger.send_text(desk, "desk moves up")
        await wait_for(pilot, lambda: options.get_option_at_index(1).id == desk)
        await pilot.pause()
        assert options.get_option_at_index(options.highlighted).id == duty


async def test_search_results_name_the_contact_cut_with_an_ellipsis_highlight_and_mark(
        data_dir, clock):
    """A result says who wrote it, shows the words around the match cut with "…" and the
    match highlighted (a body's brackets are text, not markup); choosing it shows the message
    in the chat, marked until the next key."""
    from textual.content import Content

    handset = make_handset(data_dir, clock=clock, settings=FULL)
    await set_up(handset, locked=False)
    app = make_app(data_dir, handset=handset, settings=FULL)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        number = "+86 190 0000 0110"
        name = handset.messenger.contact(number).name
        store = handset.persona.store
        long = "words before " * 6 + "[b]the[/] needle in it " + "and after it " * 6
        with store.transaction():
            for i in range(300):
                body = long if i == 40 else f"message {i}"
                store.execute("INSERT INTO messages (uuid, number, outgoing, body, state, at) "
                              "VALUES (?, ?, 0, ?, 'read', ?)", (f"m{i}", number, body,
                                                                 clock.now() + i))
        app.query_one(HandsetView).push(ChatView(number))
        await settle(pilot)
        chat = top(app)
        log = app.query_one(ChatLog)
        await pilot.press("ctrl+f")
        await settle(pilot)
        await pilot.press(*"NEEDLE", "enter")
        await settle(pilot)
        results = app.query_one("#search-results", OptionList)
        assert results.option_count == 1
        content = results.get_option_at_index(0).prompt
        assert isinstance(content, Content)  # words, not markup to parse
        plain = content.plain
        assert name in plain and "Them" not in plain
        assert plain.startswith("…", plain.index(name) + len(name) + 2) and plain.endswith("…")
        assert "[b]the[/]" in plain  # the body's brackets shown as they were written
        (needle,) = [span for span in content.spans if "reverse" in str(span.style)]
        assert plain[needle.start:needle.end] == "needle"
        await pilot.press("enter")
        await settle(pilot)
        assert top(app) is chat
        target = next(m for m in log.messages if m.body == long)
        assert log.marked == target.id
        lines = log.styled_text().splitlines()
        first = next(i for i, line in enumerate(lines) if "needle" in line)
        y = first - int(log.scroll_offset.y)
        assert 0 <= y < log.scrollable_content_region.height  # in view
        assert any(segment.style and segment.style.reverse for segment in log.render_line(y))
        await pilot.press("x")
        await settle(pilot)
        assert log.marked is None
        assert not any(segment.style and segment.style.reverse
                       for segment in log.render_line(y))


async def test_a_changed_safety_number_is_said_where_it_changed_and_pinned_above_compose(
        data_dir, clock):
    """The chat says the safety number changed between the messages before and after the
    change (as Signal does), and while it is unresolved the warning sits right above the
    compose box, not at the top above older messages."""
    handset = make_handset(data_dir, clock=clock, settings=FULL)
    await set_up(handset, locked=False)
    app = make_app(data_dir, handset=handset, settings=FULL)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        messenger, desk = handset.messenger, "+86 190 0000 0120"
        store = handset.persona.store

        def say(body: str) -> None:
            store.execute("INSERT INTO messages (uuid, number, outgoing, body, state, at) "
                          "VALUES (?, ?, 0, ?, 'read', ?)", (body, desk, body, clock.now()))

        messenger.know_identity(desk, b"\x01" * 32)
        say("before the change")
        messenger.know_identity(desk, b"\x42" * 32)  # a man in the middle's key
        say("after the change")
        app.query_one(HandsetView).push(ChatView(desk))
        await settle(pilot)
        log = app.query_one(ChatLog)
        bodies = [m.body for m in log.messages]
        (notice,) = [m for m in log.messages if m.kind == "notice"]
        assert "safety number" in notice.body and messenger.contact(desk).name in notice.body
        assert (bodies.index("before the change") < bodies.index(notice.body)
                < bodies.index("after the change"))
        warning = app.query_one("#chat-warning")
        compose = app.query_one(TextArea)
        assert warning.display and warning.region.height >= 1
        assert log.region.bottom <= warning.region.y
        assert warning.region.bottom == compose.region.y


async def test_ticks_stay_in_their_column_when_the_scrollbar_appears():
    """Our bubbles and their ticks are laid out against the same width whether or not the
    history is long enough for a scrollbar (the gutter is kept from the start)."""
    from textual.app import App

    from phone_tui.handset.messenger import Message

    class One(App):
        def compose(self):
            yield ChatLog()

    def ours(i: int) -> Message:
        return Message(i, f"u{i}", "+2", True, f"hello {i}", "read", "", 0.0, False, None)

    def tick_column(log: ChatLog) -> int:
        lines = log.styled_text().splitlines()
        y = max(i for i, line in enumerate(lines) if "✓✓" in line) - int(log.scroll_offset.y)
        text = "".join(segment.text for segment in log.render_line(y))
        return len(text.rstrip()) + log.region.x

    async with One().run_test(size=(60, 20)) as pilot:
        log = pilot.app.query_one(ChatLog)
        log.set_messages([ours(1)])
        await pilot.pause()
        assert log.max_scroll_y == 0  # no scrollbar needed yet
        before = tick_column(log)
        log.set_messages([ours(i) for i in range(1, 60)])
        await pilot.pause()
        await pilot.pause()
        assert log.max_scroll_y > 0
        assert tick_column(log) == before


async def test_the_qr_code_in_contact_info_is_centred(data_dir, clock):
    handset = make_handset(data_dir, clock=clock, settings=FULL)
    await set_up(handset, locked=False)
    app = make_app(data_dir, handset=handset, settings=FULL)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        desk = "+86 190 0000 0120"
        handset.messenger.know_identity(desk, b"\x01" * 32)
        app.query_one(HandsetView).push(ContactInfoView(desk))
        await settle(pilot)
        from phone_tui.ui.widgets.qr import QRCode, qr_lines

        info = top(app)
        qr = app.query_one(QRCode)
        width = len(qr_lines(qr.data)[0])
        row = "".join(segment.text for segment in qr.render_line(0))
        left = qr.region.x + len(row) - len(row.lstrip(" "))
        right = info.content_region.right - (left + width)
        assert abs((left - info.content_region.x) - right) <= 1
