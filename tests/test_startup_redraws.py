"""Start-up draws nothing twice: the footer redraws only when the keys it shows change (a
binding refresh that leaves them as they are keeps its key widgets; a view that brings other
keys gets them), an empty banner asks for no layout, and the lock screen's place for the banner
is set before the first frame (benchmarks/startup.py measures the time to idle)."""

from __future__ import annotations

from textual.widgets._footer import FooterKey

from phone_tui.testing import SIZE, TEST_PIN, enter_pin, make_app, make_handset, set_up, settle


async def test_a_binding_refresh_that_changes_no_key_keeps_the_footer_as_it_is(data_dir, clock):
    handset = make_handset(data_dir, clock=clock)
    await set_up(handset)
    app = make_app(data_dir, handset=handset, clock=clock)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.pause()
        before = list(app.screen.query(FooterKey))
        assert "enter" in [key.key for key in before]  # the lock screen's keys are shown
        for _ in range(3):
            app.screen.refresh_bindings()
            await pilot.pause()
        assert list(app.screen.query(FooterKey)) == before  # the same widgets, not new ones
        await enter_pin(pilot, TEST_PIN)  # the home screen: other keys
        await pilot.pause()
        after = [key.key for key in app.screen.query(FooterKey)]
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


async def test_footer_keys_are_born_with_their_compactness_and_not_restyled_for_it(
        data_dir, clock):
    """FooterKey's default is compact and the footer's is not: a key bound to the footer's
    value after it was made toggled "-compact" on and off, restyling every key twice before
    the first frame (benchmarks/startup.py, about 25 M instructions). The keys still look as
    Textual's Footer draws them: compact only for the command palette's key."""
    handset = make_handset(data_dir, clock=clock)
    await set_up(handset)
    app = make_app(data_dir, handset=handset, clock=clock)
    restyled: list[FooterKey] = []
    update_styles = type(app).update_styles

    def recording(self, node, animate=True):  # noqa: ANN001, ANN202
        if isinstance(node, FooterKey):
            restyled.append(node)
        return update_styles(self, node, animate)

    type(app).update_styles = recording
    try:
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            keys = list(app.screen.query(FooterKey))
            assert len(keys) > 3
            assert restyled == []
            palette = [key for key in keys if key.has_class("-command-palette")]
            assert len(palette) == 1 and palette[0].compact and palette[0].has_class("-compact")
            others = [key for key in keys if key not in palette]
            assert not any(key.compact or key.has_class("-compact") for key in others)
            footer = app.screen.query_one("PhoneFooter")
            footer.compact = True  # still bound: the keys follow the footer
            await pilot.pause()
            assert all(key.compact and key.has_class("-compact") for key in others)
    finally:
        type(app).update_styles = update_styles
