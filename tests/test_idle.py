"""An idle phone does no work: no layout pass, DOM query, SQL statement or file read each second
while nothing it shows changes; the clock still turns at the minute and auto-lock still fires."""

from __future__ import annotations

import contextlib

import pytest
from test_stage_app import WIDE
from test_stage_app import unlock_all as unlock_stage
from textual.dom import DOMNode
from textual.widget import Widget
from textual.widgets import Digits

from phone_tui.crypto.throttle import Throttle
from phone_tui.errors import Throttled, WrongPin
from phone_tui.handset.handset import HandsetState
from phone_tui.testing import SIZE, TEST_PIN, set_up, settle
from phone_tui.ui.handset_view import HandsetView


class Work:
    """Counts what the app does: refreshes (repaints and layout passes) and the layout passes
    among them, DOM queries, SQL statements run on the given stores, reads of the PIN counter
    file."""

    def __init__(self) -> None:
        self.refreshes = self.layouts = self.queries = self.sql = self.throttle_reads = 0

    def statement(self, _sql: str) -> None:
        self.sql += 1

    def total(self) -> tuple[int, ...]:
        return (self.refreshes, self.layouts, self.queries, self.sql, self.throttle_reads)


@pytest.fixture
def work(monkeypatch):
    counted = Work()
    refresh, query, query_one, load = (Widget.refresh, DOMNode.query, DOMNode.query_one,
                                       Throttle.load)

    def counting_refresh(self, *args, layout=False, **kwargs):
        counted.refreshes += 1
        counted.layouts += bool(layout)
        return refresh(self, *args, layout=layout, **kwargs)

    def counting(method):
        def counted_query(self, *args, **kwargs):
            counted.queries += 1
            return method(self, *args, **kwargs)
        return counted_query

    def counting_load(self):
        counted.throttle_reads += 1
        return load(self)

    monkeypatch.setattr(Widget, "refresh", counting_refresh)
    monkeypatch.setattr(DOMNode, "query", counting(query))
    monkeypatch.setattr(DOMNode, "query_one", counting(query_one))
    monkeypatch.setattr(Throttle, "load", counting_load)
    return counted


@contextlib.contextmanager
def tracing(work: Work, handsets):
    stores = [h.persona.store for h in handsets if h.persona.store is not None]
    for store in stores:
        store._db.set_trace_callback(work.statement)
    try:
        yield
    finally:
        for store in stores:
            if store._db is not None:  # not closed by a lock meanwhile
                store._db.set_trace_callback(None)


def seconds_into_minute(clock) -> float:
    return clock.now() % 60


async def idle_ticks(pilot, views, clock, work: Work, ticks: int) -> tuple[int, ...]:
    """``ticks`` seconds of fake time, every phone ticking once a second: the work done."""
    await settle(pilot)
    before = work.total()
    for _ in range(ticks):
        clock.advance(1)
        for view in views:
            view.tick()
    return tuple(now - then for now, then in zip(work.total(), before, strict=True))


async def test_an_idle_unlocked_phone_does_no_work_until_the_minute_changes(
        app_factory, handset, clock, work):
    await set_up(handset, locked=False)
    handset.set_auto_lock(300)  # on, as in real use
    app = app_factory(handset=handset)
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(HandsetView)
        await settle(pilot)
        assert seconds_into_minute(clock) + 10 < 60  # ten ticks inside one minute
        with tracing(work, [handset]):
            assert await idle_ticks(pilot, [view], clock, work, 10) == (0, 0, 0, 0, 0)
            # The minute turns: the big clock and the status bar's are drawn again (a repaint:
            # the digits keep their width, so no layout pass), nothing is read.
            clock.advance(59 - seconds_into_minute(clock))
            refreshes, layouts, _, sql, _ = await idle_ticks(pilot, [view], clock, work, 1)
        assert (refreshes, layouts, sql) == (2, 0, 0)
        digits = app.query_one("#home-clock", Digits)
        assert digits.value == clock_text(clock)
        assert handset.state is HandsetState.UNLOCKED


def clock_text(clock) -> str:
    from phone_tui.core.clock import wall_time

    return wall_time(clock).strftime("%H:%M")


async def test_auto_lock_still_fires_with_the_setting_kept_in_memory(
        app_factory, handset, clock, work):
    await set_up(handset, locked=False)
    handset.set_auto_lock(15)
    app = app_factory(handset=handset)
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(HandsetView)
        with tracing(work, [handset]):
            await idle_ticks(pilot, [view], clock, work, 14)
            assert handset.state is HandsetState.UNLOCKED
            assert work.sql == 0
            await idle_ticks(pilot, [view], clock, work, 1)
        assert handset.state is HandsetState.LOCKED
        await settle(pilot)
        assert view.top is not None and view.top.id == "lock"


async def test_an_idle_lock_screen_reads_nothing_until_the_minute_changes(
        app_factory, handset, clock, work):
    await set_up(handset, locked=True)
    app = app_factory(handset=handset)
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(HandsetView)
        await settle(pilot)
        assert view.top is not None and view.top.id == "lock"
        assert await idle_ticks(pilot, [view], clock, work, 10) == (0, 0, 0, 0, 0)
        clock.advance(59 - seconds_into_minute(clock))
        refreshes, layouts, _, _, reads = await idle_ticks(pilot, [view], clock, work, 1)
        assert (refreshes, layouts, reads) == (2, 0, 0)
        assert app.query_one("#lock-clock", Digits).value == clock_text(clock)


async def test_the_lock_screen_countdown_still_runs_and_ends(app_factory, handset, clock):
    await set_up(handset, locked=True)
    app = app_factory(handset=handset)
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(HandsetView)
        await settle(pilot)
        for _ in range(5):  # the fifth wrong PIN imposes 30 s
            with contextlib.suppress(WrongPin, Throttled):
                await handset.unlock("000000")
        view.top._show_throttle()  # what the view does after an attempt
        countdown = app.query_one("#lock-countdown")
        assert "Try again in 30 s" in str(countdown.render())
        clock.advance(10)
        view.tick()
        assert "Try again in 20 s" in str(countdown.render())
        clock.advance(20)
        view.tick()
        await settle(pilot)
        assert str(countdown.render()) == ""
        assert not app.query_one("#lock-pin").disabled
        await handset.unlock(TEST_PIN)
        assert handset.state is HandsetState.UNLOCKED


async def test_an_idle_stage_does_no_work(stage_factory, work):
    app = await stage_factory()
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot)
        await unlock_stage(pilot)
        for handset in app.stage.handsets:
            handset.set_auto_lock(300)
        clock = app.stage.clock
        views = list(app.query(HandsetView))
        for view in views:
            view.tick()  # the hint says the new auto-lock: a change, drawn once
        await settle(pilot)
        assert seconds_into_minute(clock) + 10 < 60
        with tracing(work, app.stage.handsets):
            assert await idle_ticks(pilot, views, clock, work, 10) == (0, 0, 0, 0, 0)
            clock.advance(59 - seconds_into_minute(clock))
            refreshes, layouts, _, sql, _ = await idle_ticks(pilot, views, clock, work, 1)
        assert (refreshes, layouts, sql) == (2 * len(views), 0, 0)  # each phone's two clocks


async def test_settings_are_read_from_the_store_once_and_follow_changes_and_locks(
        data_dir, clock):
    from phone_tui.core.config import Settings
    from phone_tui.testing import make_handset

    handset = make_handset(data_dir, clock=clock, settings=Settings(persona="open"))
    await set_up(handset, locked=False)
    handset.set_radio("wifi", True)
    handset.set_auto_lock(120)
    work = Work()
    with tracing(work, [handset]):
        for _ in range(5):  # what the status bar and the home screen ask each second
            assert handset.radio_on("wifi") and not handset.radio_on("gps")
            assert handset.auto_lock_seconds == 120
    assert work.sql == 1  # the one radio not yet asked for, once
    handset.set_radio("wifi", False)
    handset.set_auto_lock(30)
    assert not handset.radio_on("wifi") and handset.auto_lock_seconds == 30
    handset.lock()
    assert handset.auto_lock_seconds == 0 and not handset.radio_on("gps")  # nothing readable
    await handset.unlock(TEST_PIN)
    assert handset.auto_lock_seconds == 30 and not handset.radio_on("wifi")  # from the store
