"""The footer fits 100 columns on every view, a help screen lists every key (`?`, F1, the
palette's "Keys"), and a stage below its minimum size says so."""

from __future__ import annotations

import random

import pytest
from textual.widgets import Static, TextArea

from phone_tui.core.config import Settings
from phone_tui.core.paths import resolve_paths
from phone_tui.modem.bus import Bus
from phone_tui.modem.profiles import load_profiles
from phone_tui.testing import make_handset, set_up, settle
from phone_tui.ui.app import PhoneApp
from phone_tui.ui.handset_view import HandsetView
from phone_tui.ui.keys_screen import KeysScreen
from phone_tui.ui.stage_app import MIN_WIDTH
from phone_tui.ui.themes import load_themes

FULL = Settings(link_profile="full")
DESK = "+86 190 0000 0120"


class Coach(Static):
    """Stands in for the training coach: the app offers F1 Hint when the side panel has one."""

    hints = 0

    def show_hint(self) -> None:
        self.hints += 1


def phone_app(data_dir, handset, *, settings: Settings = FULL, coach: bool = False) -> PhoneApp:
    paths = resolve_paths(data_dir)
    return PhoneApp(handset, paths=paths, settings=settings,
                    themes=load_themes(paths.user_themes_dir), profiles=load_profiles(),
                    network=Bus(random.Random(7)), side=Coach() if coach else None)


def footer_fit(app) -> tuple[int, int, str]:
    """(columns the footer's keys need, columns it has, what it shows)."""
    from phone_tui.ui.widgets.footer import PhoneFooter

    footer = app.screen.query_one(PhoneFooter)
    shown = "  ".join(f"{key.key_display} {key.description}" for key in footer.shown)
    return footer.needed_width(), footer.size.width, shown


def _chat(view):  # noqa: ANN001, ANN202
    from phone_tui.ui.views.messages import ChatView

    view.push(ChatView(DESK))


def _over_chat(factory):  # noqa: ANN001, ANN202
    def open_it(view):  # noqa: ANN001, ANN202
        from phone_tui.ui.views import messages

        view.push(messages.ChatView(DESK))
        view.call_after_refresh(view.push, getattr(messages, factory)(DESK))
    return open_it


def _setting(entry: str):  # noqa: ANN202
    def open_it(view):  # noqa: ANN001, ANN202
        view.open_app("settings")
        view.call_after_refresh(lambda: view.top.open_entry(entry))
    return open_it


def _confirm(view):  # noqa: ANN001, ANN202
    from phone_tui.ui.views.switch import SwitchConfirmView

    view.open_app("switch")
    view.call_after_refresh(view.push, SwitchConfirmView("open"))


VIEWS = {
    "setup": ("setup", None), "lock": ("locked", None), "home": ("unlocked", None),
    "messages": ("unlocked", lambda view: view.open_app("messages")),
    "chat": ("unlocked", _chat),
    "contact-info": ("unlocked", _over_chat("ContactInfoView")),
    "search": ("unlocked", _over_chat("SearchView")),
    "settings": ("unlocked", lambda view: view.open_app("settings")),
    **{f"settings-{entry}": ("unlocked", _setting(entry))
       for entry in ("about", "change_pin", "theme", "auto_lock", "radios", "network",
                     "duress_pin", "wipe", "wipe_after", "waiting_count")},
    "network": ("unlocked", lambda view: view.open_app("network")),
    "switch-os": ("unlocked", lambda view: view.open_app("switch")),
    "switch-confirm": ("unlocked", _confirm),
}


@pytest.mark.parametrize("coach", [False, True], ids=["phone", "training"])
@pytest.mark.parametrize("name", list(VIEWS))
async def test_the_footer_fits_100_columns_on_every_view(data_dir, clock, name, coach):
    state, opening = VIEWS[name]
    handset = make_handset(data_dir, clock=clock, settings=FULL)
    if state != "setup":
        await set_up(handset, locked=state == "locked")
    app = phone_app(data_dir, handset, coach=coach)
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        if opening is not None:
            opening(app.query_one(HandsetView))
            await settle(pilot)
            await settle(pilot)
        need, width, shown = footer_fit(app)
        assert need <= width, f"{name}: {need} columns for {width}: {shown}"
        assert ("f1 Hint" in shown) == coach, shown


async def test_the_stage_footer_fits_its_minimum_width_with_a_chat_in_front(stage_factory):
    from test_stage_app import _open_chat, unlock_all

    app = await stage_factory()
    async with app.run_test(size=(MIN_WIDTH, 45)) as pilot:
        await settle(pilot)
        need, width, shown = footer_fit(app)
        assert need <= width, shown
        await unlock_all(pilot)
        await _open_chat(pilot, app.stage.handsets[1].number)
        await settle(pilot)
        need, width, shown = footer_fit(app)
        assert need <= width, shown
        assert shown.startswith("f3 Phone  f4 Tap  f5 Profile  f6 Signal  f7 Air  f8 Bot  "
                                "f9 MITM  ^r Reset"), shown


def listed(app) -> dict[str, list[tuple[str, str]]]:
    """The help screen's groups: title → (keys, description) rows."""
    screen = app.screen
    assert isinstance(screen, KeysScreen)
    return dict(screen.groups)


async def test_the_help_lists_the_chats_keys_and_a_remapped_one(data_dir, clock):
    handset = make_handset(data_dir, clock=clock)
    await set_up(handset, locked=False)
    settings = Settings(link_profile="full", keymap={"handset.lock": "f12"})
    app = phone_app(data_dir, handset, settings=settings)
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        _chat(app.query_one(HandsetView))
        await settle(pilot)
        assert isinstance(app.focused, TextArea)
        await pilot.press("f1")
        await settle(pilot)
        groups = listed(app)
        assert list(groups)[:2] == ["This screen", "Phone"]
        here = groups["This screen"]
        assert here[0] == ("^s", "Send the message in the compose box")
        assert ("^home", "Go to the oldest message") in here
        assert ("f12", "Lock the phone now (its keys leave memory)") in groups["Phone"]
        assert any(keys == "^q" and "Quit" in text for keys, text in groups["App"])
        text = " ".join(str(static.render()) for static in app.screen.query(Static))
        assert "Go to the newest message" in text and "f12" in text
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, KeysScreen)


async def test_a_question_mark_in_the_compose_box_is_typed_not_help(data_dir, clock):
    handset = make_handset(data_dir, clock=clock)
    await set_up(handset, locked=False)
    app = phone_app(data_dir, handset)
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        _chat(app.query_one(HandsetView))
        await settle(pilot)
        await pilot.press("o", "k", "question_mark")
        await settle(pilot)
        assert app.query_one("#chat-compose", TextArea).text == "ok?"
        assert not isinstance(app.screen, KeysScreen)
        await pilot.press("escape")  # where no text box has the focus, ? opens the help
        await settle(pilot)
        await pilot.press("question_mark")
        await settle(pilot)
        assert isinstance(app.screen, KeysScreen)
        await pilot.press("question_mark")
        await settle(pilot)
        assert not isinstance(app.screen, KeysScreen)


async def test_f1_is_the_coachs_hint_in_training_and_question_mark_the_help(data_dir, clock):
    handset = make_handset(data_dir, clock=clock)
    await set_up(handset)
    app = phone_app(data_dir, handset, coach=True)
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        await pilot.press("f1")
        await settle(pilot)
        assert app.side.hints == 1 and not isinstance(app.screen, KeysScreen)
        await pilot.press("question_mark")
        await settle(pilot)
        assert ("f1", "Show the step's hint (costs 10 points)") in listed(app)["Training"]


async def test_the_palettes_keys_entry_opens_the_help(data_dir, clock):
    handset = make_handset(data_dir, clock=clock)
    await set_up(handset)
    app = phone_app(data_dir, handset)
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        keys = [c for c in app.get_system_commands(app.screen) if c.title == "Keys"]
        assert len(keys) == 1
        keys[0].callback()
        await settle(pilot)
        assert "This screen" in listed(app)


async def test_the_help_on_stage_lists_the_presenter_keys(stage_factory):
    app = await stage_factory()
    async with app.run_test(size=(130, 45)) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        await settle(pilot)
        groups = listed(app)
        assert list(groups) == ["This screen", "Phone", "Stage", "App"]
        stage = dict(groups["Stage"])
        assert stage["f9"].startswith("Man in the middle")
        assert "f3" in stage and "^r" in stage
        assert ("⏎", "Enter the PIN typed so far") in groups["This screen"]


async def test_a_stage_below_its_minimum_size_says_so_and_comes_back(stage_factory):
    app = await stage_factory()
    async with app.run_test(size=(60, 20)) as pilot:
        await settle(pilot)
        notice = app.query_one("#stage-too-small", Static)
        assert notice.display and "Terminal too small" in str(notice.render())
        assert "have 60×20" in str(notice.render())
        assert not app.query_one("#stage-phones").display
        await pilot.resize_terminal(130, 45)
        await settle(pilot)
        assert not notice.display
        assert app.query_one("#stage-phones").display and app.query_one("#tap").display
        frame = app.active_handset_view().query_one("#frame")
        assert frame.display and frame.region.height >= 20


def closing_hint(app) -> str:
    return str(app.screen.query_one("#keys-close", Static).render())


async def test_the_help_names_the_keys_that_close_it_as_remapped(data_dir, clock):
    handset = make_handset(data_dir, clock=clock)
    await set_up(handset, locked=False)
    settings = Settings(link_profile="full", keymap={"keys.close": "x"})
    app = phone_app(data_dir, handset, settings=settings)
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        await settle(pilot)
        assert isinstance(app.screen, KeysScreen)
        assert closing_hint(app) == "x closes this."
        await pilot.press("escape", "q")  # no longer bound to close it
        await settle(pilot)
        assert isinstance(app.screen, KeysScreen)
        await pilot.press("x")
        await settle(pilot)
        assert not isinstance(app.screen, KeysScreen)


async def test_the_help_names_every_default_key_that_closes_it(data_dir, clock):
    handset = make_handset(data_dir, clock=clock)
    await set_up(handset, locked=False)
    app = phone_app(data_dir, handset)
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        await settle(pilot)
        assert closing_hint(app) == "esc, ?, q or f1 closes this."
        await pilot.press("f1")
        await settle(pilot)
        assert not isinstance(app.screen, KeysScreen)


async def test_the_help_in_a_chat_lists_our_keys_first_and_the_text_box_last_on_one_page(
        data_dir, clock):
    from phone_tui.ui import bindings

    handset = make_handset(data_dir, clock=clock)
    await set_up(handset, locked=False)
    app = phone_app(data_dir, handset)
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        _chat(app.query_one(HandsetView))
        await settle(pilot)
        await pilot.press("f1")
        await settle(pilot)
        groups = listed(app)
        assert list(groups) == ["This screen", "Phone", "App", "Text box"]
        # The chat's keys in the order bindings.py gives them, each with its long description.
        assert groups["This screen"] == [(app.get_key_display(b), b.tooltip)
                                         for b in bindings.CHAT]
        assert groups["Phone"][0] == ("^l", "Lock the phone now (its keys leave memory)")
        words = " ".join(text for rows in groups.values() for _, text in rows).lower()
        assert "select" not in words.replace("shift selects", "") and " word" not in words
        assert len(groups["Text box"]) <= 12
        # Everything above the text box's group shows on the first page.
        title = next(s for s in app.screen.query(".keys-title").results(Static)
                     if str(s.render()) == "Text box")
        box = app.screen.query_one("#keys")
        assert title.region.bottom <= box.region.bottom - 1, (title.region, box.region)


async def test_the_stage_keys_are_listed_f3_to_f11_then_ctrl_r_with_a_chat_in_front(
        stage_factory):
    from test_stage_app import _open_chat, unlock_all

    app = await stage_factory()
    async with app.run_test(size=(130, 45)) as pilot:
        await settle(pilot)
        await unlock_all(pilot)
        await _open_chat(pilot, app.stage.handsets[1].number)
        await settle(pilot)
        await pilot.press("f1")
        await settle(pilot)
        stage = listed(app)["Stage"]
        assert [keys for keys, _ in stage] == ["f3", "f4", "f5", "f6", "f7", "f8", "f9", "f10",
                                               "f11", "^r"]
        assert stage[0] == ("f3", "Next phone: the keys go to it")
