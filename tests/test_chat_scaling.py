"""A long conversation costs the store no more work to open and to jump through than a short
one: every query the chat view makes is an indexed look-up of a page, never a walk over the
whole conversation (benchmarks/chat.py times it with 100 000 messages)."""

from __future__ import annotations

from test_messages_app import FULL, ready, top

from phone_tui.testing import SIZE, make_app, make_handset, set_up, settle
from phone_tui.ui.handset_view import HandsetView
from phone_tui.ui.views.messages import ChatView
from phone_tui.ui.widgets.chat_log import ChatLog

SHORT, LONG = "+86 190 0000 0110", "+86 190 0000 0120"


def fill(store, number: str, count: int, start: float) -> None:  # noqa: ANN001 - PersonaStore
    with store.transaction():
        for i in range(count):
            store.execute("INSERT INTO messages (uuid, number, outgoing, body, state, at) "
                          "VALUES (?, ?, ?, ?, 'read', ?)",
                          (f"{number}-{i}", number, i % 2, f"message {i}", start + i))


async def test_a_long_chat_opens_and_jumps_with_the_store_work_of_a_short_one(data_dir, clock):
    handset = make_handset(data_dir, clock=clock, settings=FULL)
    await set_up(handset, locked=False)
    app = make_app(data_dir, handset=handset, settings=FULL)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        store = handset.persona.store
        fill(store, SHORT, 2 * ChatView.PAGE, clock.now())
        fill(store, LONG, 40 * ChatView.PAGE, clock.now())
        steps: dict[str, int] = {}

        async def visit(number: str) -> None:
            """SQLite virtual-machine steps (in thousands) to open the chat, then Ctrl+Home."""
            counted = [0]

            def step() -> int:
                counted[0] += 1
                return 0  # go on

            store._db.set_progress_handler(step, 1000)
            app.query_one(HandsetView).push(ChatView(number))
            await settle(pilot)
            await pilot.press("ctrl+home")
            await settle(pilot)
            store._db.set_progress_handler(None, 0)
            log = app.query_one(ChatLog)
            assert log.messages[0].body == "message 0" and len(log.messages) == ChatView.PAGE
            steps[number] = counted[0]
            top(app).handset_view.pop()
            await settle(pilot)

        await visit(SHORT)
        await visit(LONG)
        # 20 times the messages: a walk over them (a min and a max of the ids together took
        # about 10 steps a message) would cost 20 times the work.
        assert steps[LONG] <= 1.5 * steps[SHORT] + 5, steps
