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


# ---- keys typed right after a key that opens a view ---------------------------------------------
# The opening key's binding (the grid's Enter, a list's Enter, Network's "p") posts a message
# the view acts on later; the keys behind it in the burst must reach the view it opens, not the
# one it covers, nor be dropped.

DUTY, DESK = "+86 190 0000 0110", "+86 190 0000 0120"


async def _with_two_conversations(pilot, handset) -> None:
    from test_messages_app import ready

    await ready(pilot)
    handset.messenger.send_text(DUTY, "first")
    handset.messenger.send_text(DESK, "second")  # on top of the list
    await settle(pilot)


async def keys_done(pilot) -> None:
    """Settle, until no phone holds keys any more (each held key waits for a refresh)."""
    from phone_tui.testing import wait_for

    def free() -> bool:
        return getattr(pilot.app, "keys_waiting", 0) == 0 and all(
            not getattr(p, "keys_busy", False) and not p._held_keys
            for p in pilot.app.query(HandsetView))

    await settle(pilot)
    await wait_for(pilot, free)
    await settle(pilot)


def _focus_tile(app, app_id: str) -> None:
    app.screen.set_focus(app.query_one(f"#app-{app_id}", AppTile))


async def test_enter_down_enter_on_the_messages_tile_opens_the_second_conversation(
        data_dir, clock):
    handset = make_handset(data_dir, clock=clock, settings=FULL)
    await set_up(handset, locked=False)
    app = make_app(data_dir, handset=handset, settings=FULL)
    async with app.run_test(size=SIZE) as pilot:
        await _with_two_conversations(pilot, handset)
        _focus_tile(app, "messages")
        burst(app, ["enter", "down", "enter"])
        await keys_done(pilot)
        assert isinstance(top(app), ChatView), top(app)
        assert top(app).number == DUTY


async def test_a_word_typed_right_after_enter_on_a_conversation_lands_in_its_compose_box(
        data_dir, clock):
    from phone_tui.testing import open_app

    handset = make_handset(data_dir, clock=clock, settings=FULL)
    await set_up(handset, locked=False)
    app = make_app(data_dir, handset=handset, settings=FULL)
    async with app.run_test(size=SIZE) as pilot:
        await _with_two_conversations(pilot, handset)
        await open_app(pilot, "messages")
        burst(app, ["enter", *"hello"])
        await keys_done(pilot)
        assert isinstance(top(app), ChatView), top(app)
        assert app.query_one(TextArea).text == "hello"


async def test_p_right_after_enter_on_the_network_tile_opens_the_link_profiles(
        app_factory, handset):
    from phone_tui.ui.views.network import ProfileView

    await set_up(handset, locked=False)
    app = app_factory(handset=handset)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        _focus_tile(app, "network")
        burst(app, ["enter", "p"])
        await keys_done(pilot)
        assert isinstance(top(app), ProfileView), top(app)


async def test_enter_down_enter_on_the_settings_tile_opens_the_second_entry(
        app_factory, handset):
    from phone_tui.ui.views.settings import SettingsView

    await set_up(handset, locked=False)
    app = app_factory(handset=handset)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        _focus_tile(app, "settings")
        burst(app, ["enter", "down", "enter"])
        await keys_done(pilot)
        phone = app.query_one(HandsetView)
        assert [type(v) for v in phone._stack][:2] == [HomeView, SettingsView]
        assert len(phone._stack) == 3, phone._stack


async def test_enter_typed_right_after_the_pin_opens_the_selected_app(app_factory, handset):
    from phone_tui.testing import TEST_PIN
    from phone_tui.ui.views.messages import MessagesView

    await set_up(handset)
    app = app_factory(handset=handset)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        burst(app, [*TEST_PIN, "enter", "enter"])
        await keys_done(pilot)
        assert isinstance(top(app), MessagesView), top(app)


# ---- the stage: F3 between phones, in the same burst ---------------------------------------------

async def test_a_stage_burst_unlocks_both_phones_across_f3_in_order(stage_factory):
    """PIN, Enter, F3, PIN, Enter, F3 in one burst: each PIN reaches its own phone, whole and
    in order (F3 is a priority key: it must not overtake the keys typed before it)."""
    from test_stage_app import WIDE

    from phone_tui.handset.handset import HandsetState

    app = await stage_factory()
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot)
        first, second = app.stage.phones
        burst(app, [*first.pin, "enter", "f3", *second.pin, "enter", "f3"])
        await keys_done(pilot)
        assert [h.state for h in app.stage.handsets] == [HandsetState.UNLOCKED] * 2
        assert app.active == 0


async def test_keys_typed_during_an_unlock_wait_for_home_and_a_wrong_pin_gets_the_next_try(
        app_factory, handset):
    """A wrong PIN then the right one in one burst: the second try goes to the entry once the
    first has been refused (not into the disabled entry, not dropped)."""
    from phone_tui.handset.handset import HandsetState
    from phone_tui.testing import TEST_PIN

    await set_up(handset)
    app = app_factory(handset=handset)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        wrong = ("8" if TEST_PIN.startswith("9") else "9") * len(TEST_PIN)
        burst(app, [*wrong, "enter", *TEST_PIN, "enter"])
        await keys_done(pilot)
        assert handset.state is HandsetState.UNLOCKED
        assert isinstance(top(app), HomeView)


async def test_a_phone_stuck_busy_gets_the_keys_after_the_limit_and_ctrl_q_never_waits(
        app_factory, handset, monkeypatch):
    """Should a view never say it is done, the keyboard is not lost for good: the keys go on
    after BUSY_LIMIT, in order; and Ctrl+Q quits at once, however busy the phone."""
    from phone_tui.testing import wait_for
    from phone_tui.ui import key_pacing
    from phone_tui.ui.views.base import PhoneView

    await set_up(handset, locked=False)
    app = app_factory(handset=handset)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        tiles = list(app.query(AppTile))
        monkeypatch.setattr(key_pacing, "BUSY_LIMIT", 3600.0)
        monkeypatch.setattr(PhoneView, "keeps_keys", property(lambda self: True))
        burst(app, ["right", "right", "left", "right"])
        await wait_for(pilot, lambda: app.keys_waiting == 4)  # held while busy (settle would
        await pilot.pause()                                    # wait for them to go)
        assert app.focused is tiles[0] and app.keys_waiting == 4
        app._pacing_busy_since -= 7200  # the limit passed: all of them go on, not one per limit
        await wait_for(pilot, lambda: app.keys_waiting == 0)
        await pilot.pause()
        assert app.focused is tiles[2]  # in order
        monkeypatch.setattr(key_pacing, "BUSY_LIMIT", 3600.0)
        burst(app, ["right", "ctrl+q"])
        await wait_for(pilot, lambda: app._exit)
        assert app.keys_waiting == 1  # "right" waits for the busy phone; Ctrl+Q behind it quit


def terminal_click(app, selector: str) -> None:
    """A click as the terminal sends it: MouseDown and MouseUp posted to the app (Pilot's
    click forwards them to the screen directly, past the app)."""
    from textual.pilot import _get_mouse_message_arguments

    arguments = _get_mouse_message_arguments(app.screen.query_one(selector), (1, 0), button=1)
    app.post_message(events.MouseDown(**arguments))
    app.post_message(events.MouseUp(**arguments))


async def test_a_click_on_another_stage_phone_during_an_unlock_waits_behind_the_keys(
        stage_factory):
    """Phone 1 unlocking (a slow Argon2id), its second try typed ahead, then a click on phone
    2, whose chat is open: the PIN typed for phone 1 goes to phone 1, never into phone 2's
    compose box; then the click moves the keyboard to phone 2 (from the attacker review)."""
    import asyncio

    from test_stage_app import WIDE

    from phone_tui.handset.handset import HandsetState
    from phone_tui.testing import wait_for

    app = await stage_factory()
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot)
        first, second = app.stage.phones
        one, two = app.stage.handsets
        await pilot.press("f3", *second.pin, "enter")
        await keys_done(pilot)
        app.query_one("#handset-2", HandsetView).push(ChatView(one.number))
        await settle(pilot)
        await pilot.press("f3")
        await keys_done(pilot)
        assert app.active == 0 and two.state is HandsetState.UNLOCKED
        real = one.unlock

        async def slow(pin):  # noqa: ANN001, ANN202
            await asyncio.sleep(0.4)
            return await real(pin)

        one.unlock = slow
        wrong = ("8" if first.pin.startswith("9") else "9") * len(first.pin)
        burst(app, [*wrong, "enter", *first.pin, "enter"])
        await pilot.pause(0.1)
        assert app.keys_waiting > len(first.pin)  # the second try waits for the first
        terminal_click(app, "#slot-2 .slot-caption")
        await wait_for(pilot, lambda: one.state is HandsetState.UNLOCKED)
        await keys_done(pilot)
        compose = app.query_one("#handset-2", HandsetView).query_one(TextArea).text
        assert compose == "", compose
        assert app.active == 1  # the click, after the keys


async def test_keys_beyond_the_256_that_wait_are_dropped_and_the_phone_says_so(
        app_factory, handset, monkeypatch):
    from phone_tui.testing import notifications, wait_for
    from phone_tui.ui import key_pacing
    from phone_tui.ui.views.base import PhoneView

    await set_up(handset, locked=False)
    app = app_factory(handset=handset)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        monkeypatch.setattr(key_pacing, "BUSY_LIMIT", 3600.0)
        busy = True
        monkeypatch.setattr(PhoneView, "keeps_keys", property(lambda self: busy))
        burst(app, ["x"] * 300)
        await wait_for(pilot, lambda: app._pacing_dropped == 300 - key_pacing.MAX_WAITING_KEYS)
        assert app.keys_waiting == key_pacing.MAX_WAITING_KEYS
        busy = False
        await wait_for(pilot, lambda: app.keys_waiting == 0)
        await wait_for(pilot, lambda: any("44 keys" in n for n in notifications(app)))


# ---- the terminal too small, then large enough again --------------------------------------------

async def test_after_terminal_too_small_and_back_the_keys_reach_the_view_again(data_dir, clock):
    """Hidden behind "Terminal too small", the phone lost the keyboard; shown again, the chat's
    compose box has it back (from the new-user review: every key was lost until Tab)."""
    handset = make_handset(data_dir, clock=clock, settings=FULL)
    await set_up(handset, locked=False)
    app = make_app(data_dir, handset=handset, settings=FULL)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.query_one(HandsetView).push(ChatView(ECHO))
        await settle(pilot)
        await pilot.resize_terminal(30, SIZE[1])
        await settle(pilot)
        assert app.query_one(HandsetView).has_class("-too-small")
        await pilot.resize_terminal(*SIZE)
        await settle(pilot)
        burst(app, list("abc"))
        await keys_done(pilot)
        assert app.query_one(TextArea).text == "abc"


async def test_after_the_stage_was_too_small_the_phone_in_front_has_the_keys_again(
        stage_factory):
    from test_stage_app import WIDE

    from phone_tui.handset.handset import HandsetState

    app = await stage_factory()
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot)
        await pilot.resize_terminal(90, WIDE[1])
        await settle(pilot)
        assert app.has_class("-too-small")
        await pilot.resize_terminal(*WIDE)
        await settle(pilot)
        burst(app, [*app.stage.phones[0].pin, "enter"])
        await keys_done(pilot)
        assert app.stage.handsets[0].state is HandsetState.UNLOCKED


async def test_a_views_default_focus_is_taken_at_once_not_queued(data_dir, clock):
    """Widget.focus() waits its turn in the app's queue: Home then an app in one go (a flow's
    "open"), and the view popped on the way took the keys back from the one on top once its
    turn came, hidden (the screenshots flow's Enter on the OS switch went nowhere, 2 runs in
    10 under load). Every view's focus_default now focuses at once."""
    from phone_tui.ui.views.lock import LockView
    from phone_tui.ui.views.settings import SettingsView

    handset = make_handset(data_dir, clock=clock, settings=FULL)
    await set_up(handset, locked=False)
    app = make_app(data_dir, handset=handset, settings=FULL)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        phone = app.query_one(HandsetView)
        for view in (SettingsView(), ChatView(ECHO)):
            phone.push(view)
            await settle(pilot)
            app.screen.set_focus(phone)
            view.focus_default()  # no await: the focus must be there now
            assert app.focused is not None and view in app.focused.ancestors, view
            phone.pop()
            await settle(pilot)
        handset.lock()
        await settle(pilot)
        lock = top(app)
        assert isinstance(lock, LockView)
        app.screen.set_focus(phone)
        lock.focus_default()
        assert app.focused is not None and lock in app.focused.ancestors


async def test_a_key_that_reaches_the_app_after_its_screens_went_is_dropped(app_factory,
                                                                           handset):
    """From a loaded CI run: a key still queued while the app closed reached Textual's key
    handling with no screen left (ScreenStackError)."""
    from textual import events

    app = app_factory(handset=handset)
    assert not app.screen_stack  # not started, or already closed: the same state
    await app.on_event(events.Key("x", "x"))
    await app.on_event(events.Key("ctrl+l", None))
