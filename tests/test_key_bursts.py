"""Keys that arrive in one burst (a fast typist, tmux send-keys) are each handled, in order."""

from __future__ import annotations

from textual import events
from textual.widgets import TextArea

from phone_tui.core.config import Settings
from phone_tui.testing import SIZE, make_app, make_handset, set_up, settle
from phone_tui.ui.handset_view import HandsetView
from phone_tui.ui.views.home import HomeView
from phone_tui.ui.views.messages import ChatView
from phone_tui.ui.widgets.app_grid import AppTile

FULL = Settings(link_profile="full")
ECHO = "+86 190 0000 0100"


def burst(app, keys: list[str]) -> None:
    """Post every key at once, as a terminal delivers a paste or send-keys."""
    for key in keys:
        character = {"space": " ", "enter": "\r", "ctrl+s": "\x13"}.get(key, key)
        app.post_message(events.Key(key, character if len(key) == 1 or key in (
            "space", "enter", "ctrl+s") else None))


def top(app):
    return app.query_one(HandsetView).top


async def test_a_line_and_ctrl_s_in_one_burst_sends_the_whole_line(data_dir, clock):
    handset = make_handset(data_dir, clock=clock, settings=FULL)
    await set_up(handset, locked=False)
    app = make_app(data_dir, handset=handset, settings=FULL)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.query_one(HandsetView).push(ChatView(ECHO))
        await settle(pilot)
        line = "ready when you are"
        burst(app, [("space" if c == " " else c) for c in line] + ["ctrl+s"])
        await settle(pilot)
        outgoing = [m.body for m in handset.messenger.history(ECHO, limit=10) if m.outgoing]
        assert outgoing == [line], app.query_one(TextArea).text
        assert app.query_one(TextArea).text == ""


async def test_two_identical_arrows_in_one_burst_move_the_home_grid_two_tiles(app_factory,
                                                                               handset):
    await set_up(handset, locked=False)
    app = app_factory(handset=handset)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert isinstance(top(app), HomeView)
        tiles = list(app.query(AppTile))
        assert app.focused is tiles[0]
        burst(app, ["right", "right"])
        await settle(pilot)
        assert app.focused is tiles[2]
        burst(app, ["down", "left", "left", "up"])
        await settle(pilot)
        assert app.focused is tiles[0]


async def test_a_view_closed_before_it_took_the_keys_hands_them_to_the_view_below(
        app_factory, handset):
    """Pushed and popped before it was ready (the shade opened and closed in one go): no
    crash, and the keys held for it go to the view on top, once each."""
    from phone_tui.ui.views.shade import NoticeShade

    await set_up(handset, locked=False)
    app = app_factory(handset=handset)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        phone = app.query_one(HandsetView)
        tiles = list(app.query(AppTile))
        phone.push(NoticeShade())
        burst(app, ["right"])
        phone.pop()
        burst(app, ["right"])
        await settle(pilot)
        assert isinstance(top(app), HomeView) and phone._awaiting is None
        assert app.focused is tiles[2], app.focused


async def test_text_typed_after_ctrl_s_in_one_burst_is_the_next_message(data_dir, clock):
    """"one" Ctrl+S "two" Ctrl+S in one burst: two messages, each with what was typed before
    its Ctrl+S (the characters after a Ctrl+S were in the box before its binding ran)."""
    handset = make_handset(data_dir, clock=clock, settings=FULL)
    await set_up(handset, locked=False)
    app = make_app(data_dir, handset=handset, settings=FULL)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.query_one(HandsetView).push(ChatView(ECHO))
        await settle(pilot)
        burst(app, ["o", "n", "e", "ctrl+s", "t", "w", "o", "ctrl+s", "x"])
        await settle(pilot)
        outgoing = [m.body for m in handset.messenger.history(ECHO, limit=10) if m.outgoing]
        assert outgoing == ["one", "two"]
        assert app.query_one(TextArea).text == "x"
