"""Start-up draws nothing twice: the footer redraws only when the keys it shows change (a
binding refresh that leaves them as they are redraws nothing; a view that brings other keys
gets them), an empty banner asks for no layout, and the lock screen's place for the banner
is set before the first frame (benchmarks/startup.py measures the time to idle)."""

from __future__ import annotations

import pytest

from phone_tui.testing import SIZE, TEST_PIN, enter_pin, make_app, make_handset, set_up, settle
from phone_tui.ui.widgets.footer import PhoneFooter


async def test_a_binding_refresh_that_changes_no_key_keeps_the_footer_as_it_is(data_dir, clock):
    handset = make_handset(data_dir, clock=clock)
    await set_up(handset)
    app = make_app(data_dir, handset=handset, clock=clock)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.pause()
        footer = app.screen.query_one(PhoneFooter)
        before = footer.shown
        assert "enter" in [key.key for key in before]  # the lock screen's keys are shown
        redraws = []
        refresh = footer.refresh
        footer.refresh = lambda *a, **k: (redraws.append(k), refresh(*a, **k))[1]
        for _ in range(3):
            app.screen.refresh_bindings()
            await pilot.pause()
        assert footer.shown is before and redraws == []  # nothing redrawn
        await enter_pin(pilot, TEST_PIN)  # the home screen: other keys
        await pilot.pause()
        after = [key.key for key in footer.shown]
        assert after != [key.key for key in before] and "ctrl+l" in after


async def test_the_lock_screen_asks_for_no_layout_after_its_first_frame_for_an_empty_banner(
        data_dir, clock):
    """The banner's first check finds nothing to show, and the lock screen's place for it is
    set before the first frame: neither reflows nor restyles the phone (start-up's idle)."""
    from phone_tui.ui.handset_view import HandsetView
    from phone_tui.ui.widgets.notice_banner import NoticeBanner

    handset = make_handset(data_dir, clock=clock)
    await set_up(handset)
    app = make_app(data_dir, handset=handset, clock=clock)
    classes_at_compose = []
    compose = HandsetView.compose

    def recording(view):  # noqa: ANN001, ANN202
        yield from compose(view)
        classes_at_compose.append(set(view.classes))

    HandsetView.compose = recording
    try:
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            banner = app.query_one(NoticeBanner)
            layouts = []
            refresh = banner.refresh
            banner.refresh = lambda *a, **k: (layouts.append(k.get("layout")), refresh(*a, **k))[1]
            banner.show(None)  # what the phone's first notices check asks
            await pilot.pause()
            assert layouts == [] and not banner.display
    finally:
        HandsetView.compose = compose
    assert "-on-lock" in classes_at_compose[0]


async def test_the_footer_is_one_widget_that_shows_and_presses_every_key(data_dir, clock):
    """The footer draws its keys as one line (one widget per key, as Textual's Footer has,
    cost about 80 M instructions before the first frame: benchmarks/startup.py), and still
    works as that footer does: each key shows its key and description, a click presses it,
    hovering shows its tooltip, and the command palette's key sits at the right end."""
    handset = make_handset(data_dir, clock=clock)
    await set_up(handset)
    app = make_app(data_dir, handset=handset, clock=clock)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        footer = app.screen.query_one(PhoneFooter)
        assert not footer.children
        line = str(footer.render())
        keys = footer.shown
        assert len(keys) > 3 and keys[-1].palette
        for key in keys:
            assert f"{key.key_display} {key.description}" in line
        assert line.rstrip().endswith(f"▏{keys[-1].key_display} {keys[-1].description}")
        pressed = []
        simulate = app.simulate_key
        app.simulate_key = lambda key: (pressed.append(key), simulate(key))[1]
        quit_key = next(key for key in keys if key.action == "app.quit" or "quit" in key.action)
        x, y = footer.offset_of(quit_key.key)
        await pilot.hover(PhoneFooter, offset=(x + 1, y))
        assert footer.tooltip == quit_key.tooltip
        app.exit = lambda *a, **k: None  # pressed, not obeyed: the test goes on
        await pilot.click(PhoneFooter, offset=(x + 1, y))
        assert pressed == [quit_key.key]


async def test_a_narrow_footer_drops_whole_keys_and_keeps_the_help_key(data_dir, clock):
    """Too narrow for every key: whole keys are left out (never one cut mid-word), the key to
    the help screen stays, and a key left out is not where a click lands (new-user review)."""
    handset = make_handset(data_dir, clock=clock)
    await set_up(handset)
    app = make_app(data_dir, handset=handset, clock=clock)
    async with app.run_test(size=(50, SIZE[1])) as pilot:
        await settle(pilot)
        footer = app.screen.query_one(PhoneFooter)
        line = str(footer.render())
        keys = [key for key in footer.shown if not key.palette]
        drawn = [key for key in keys if f"{key.key_display} {key.description}" in line]
        assert 0 < len(drawn) < len(keys)
        assert any(key.action == "keys" for key in drawn)
        words = {word for key in keys for word in (key.key_display, key.description)}
        left = line.split("▏")[0].split()
        assert all(word in words for word in left), left  # no word cut
        hidden = next(key for key in keys if key not in drawn)
        with pytest.raises(KeyError):
            footer.offset_of(hidden.key)


async def test_the_stylesheet_is_parsed_once_for_the_theme_the_phone_starts_with(data_dir, clock):
    """The phone's theme is chosen before the app runs: setting ``App.theme`` then queued a
    refresh that parsed every stylesheet again before anything was styled (about 15 M
    instructions of start-up, benchmarks/startup.py); the theme, its classes and its colours
    are still the ones the app shows."""
    from textual.css.stylesheet import Stylesheet

    handset = make_handset(data_dir, clock=clock)
    await set_up(handset)
    app = make_app(data_dir, handset=handset, clock=clock)
    reparses = []
    reparse = Stylesheet.reparse
    Stylesheet.reparse = lambda sheet: (reparses.append(sheet), reparse(sheet))[1]
    try:
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            assert reparses == []
            theme = app.get_theme(handset.settings.theme)
            assert app.theme == theme.name and app.has_class(f"-theme-{theme.name}")
            assert app.has_class("-dark-mode") is theme.dark
            assert app.theme_variables["primary"] == theme.primary
            app.action_next_theme()  # a change of theme still restyles the phone
            await pilot.pause()
            assert reparses and app.theme != theme.name
    finally:
        Stylesheet.reparse = reparse


async def test_the_stage_too_starts_on_its_theme_without_parsing_its_stylesheet_again(
        stage_factory):
    from textual.css.stylesheet import Stylesheet

    app = await stage_factory()
    reparses = []
    reparse = Stylesheet.reparse
    Stylesheet.reparse = lambda sheet: (reparses.append(sheet), reparse(sheet))[1]
    try:
        async with app.run_test(size=(130, 45)) as pilot:
            await pilot.pause()
            assert reparses == [] and app.theme == "secure" and app.has_class("-theme-secure")
            assert app.theme_variables["primary"] == app.get_theme("secure").primary
    finally:
        Stylesheet.reparse = reparse
        app.stage.close()
