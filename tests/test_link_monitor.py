"""The Network app's figures: the monitor's samples on fake time (looptime), and the view's
headlines, graphs and scales agreeing with each other (Pilot)."""

from __future__ import annotations

import asyncio
import random

import pytest
from textual.widgets import Sparkline, Static, Switch

from phone_tui.modem.bus import ECHO_NUMBER, Bus, ModemStats
from phone_tui.modem.monitor import LinkMonitor
from phone_tui.modem.profiles import load_profiles
from phone_tui.testing import SIZE, make_app, open_app, set_up, settle
from phone_tui.ui.handset_view import HandsetView
from phone_tui.ui.views.network import NetworkView, _ms, _percent, _rate

PROFILES = load_profiles()


def attach(bus: Bus, profile: str = "lte"):
    return bus.attach("+1", PROFILES[profile], on_message=lambda envelope: None,
                      on_state=lambda msg_id, state, reason: None)


@pytest.mark.looptime
async def test_a_20_kib_burst_on_lte_measures_over_160_kbit_s_in_its_second():
    bus = Bus(random.Random(7))
    modem, monitor = attach(bus), LinkMonitor()
    loop = asyncio.get_running_loop()
    monitor.sample(modem.stats, loop.time())
    for index in range(20):
        modem.send(ECHO_NUMBER, bytes([index]) * 1024)
    await asyncio.sleep(1.0)
    burst = monitor.sample(modem.stats, loop.time())
    # 20 KiB up and the same echoed down, well inside the second LTE needs for it
    assert burst.throughput_bps > 2 * 20 * 1024 * 8
    # A frame's round trip ends at the first acknowledgement that covers it; with cumulative
    # acks riding on the echoes, that is the earliest of several return trips, so the floor is
    # the link's: twice LTE's 35 - 15 ms (the median of one frame's two legs would be 70 ms).
    assert burst.rtt_ms is not None and 2 * (35 - 15) <= burst.rtt_ms < 500
    await asyncio.sleep(1.0)
    quiet = monitor.sample(modem.stats, loop.time())
    assert quiet.throughput_bps < burst.throughput_bps / 10
    assert monitor.series("throughput_bps", 2) == [burst.throughput_bps, quiet.throughput_bps]


def test_round_trip_is_the_median_of_the_second_then_the_latest_measured_until_service_ends():
    stats, monitor = ModemStats(), LinkMonitor()
    monitor.sample(stats, 0.0)
    stats.rtt.extend([(0.2, 0.050), (0.5, 0.300), (0.7, 0.060)])
    assert monitor.sample(stats, 1.0).rtt_ms == pytest.approx(60.0)  # median, not mean 137
    quiet = monitor.sample(stats, 2.0)  # no acknowledgement in this second
    assert quiet.rtt_ms == pytest.approx(60.0) and not quiet.rtt_fresh
    assert monitor.series("rtt_ms", 3) == pytest.approx([0.0, 60.0, 60.0])
    assert monitor.sample(stats, 3.0, in_service=False).rtt_ms is None  # airplane: no figure
    assert monitor.series("rtt_ms", 2) == pytest.approx([60.0, 0.0])


def test_loss_is_the_share_of_frames_dropped_in_the_second_and_throughput_counts_bits():
    stats, monitor = ModemStats(), LinkMonitor()
    monitor.sample(stats, 10.0)
    stats.frames_sent, stats.frames_lost = 40, 10
    stats.bytes_up, stats.bytes_down = 1000, 500
    second = monitor.sample(stats, 10.5)  # half a second: the rate is over what elapsed
    assert second.loss_percent == pytest.approx(25.0)
    assert second.throughput_bps == pytest.approx(1500 * 8 / 0.5)
    stats.frames_sent += 10
    assert monitor.sample(stats, 11.5).loss_percent == 0.0


def figures(app) -> dict[str, tuple[str, list[float], str]]:
    """Each graph's headline, data and scale as drawn."""
    return {key: (str(app.query_one(f"#net-{key}-label", Static).render()),
                  list(app.query_one(f"#net-{key}", Sparkline).data),
                  str(app.query_one(f"#net-{key}-scale", Static).render()))
            for key in ("rtt", "rate", "loss")}


async def test_network_headlines_agree_with_their_graphs_and_scales(handset, data_dir):
    await set_up(handset, locked=False)
    app = make_app(data_dir, handset=handset)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await open_app(pilot, "network")
        view = app.query_one(NetworkView)
        # The phone's own once-a-second tick would add a sample between the two below on a
        # loaded machine (a CI run saw the burst's loss replaced by a quiet second's).
        app.query_one(HandsetView).ticker.pause()
        stats = handset.modem.stats
        # A burst's figures straight into the counters (no waiting on the link), one tick...
        stats.rtt.append((handset.modem.now(), 0.081))
        stats.bytes_up += 20 * 1024
        stats.frames_sent, stats.frames_lost = stats.frames_sent + 40, stats.frames_lost + 2
        view.tick()
        await pilot.pause()
        burst = figures(app)
        # ...then a quiet one: no acknowledgement, no bytes, no loss.
        stats.frames_sent += 5
        view.tick()
        await pilot.pause()
        quiet = figures(app)
        for shown in (burst, quiet):
            for key, unit in (("rtt", _ms), ("rate", _rate), ("loss", _percent)):
                headline, data, scale = shown[key]
                width = app.query_one(f"#net-{key}", Sparkline).content_region.width
                assert len(data) == width, "one column per second"
                assert headline.endswith(unit(data[-1])), f"{headline!r} vs {data[-1]}"
                assert scale == f"{unit(max(data))}\n{unit(min(data))}"
        assert quiet["rtt"][0].endswith("81 ms")  # the latest measured, as the graph shows
        assert quiet["loss"][0].endswith("0.0 %") and burst["loss"][0].endswith("5.0 %")
        assert quiet["loss"][2].startswith("5.0 %")  # the burst's loss is the graph's top
        assert burst["rate"][2].split("\n")[0] == quiet["rate"][2].split("\n")[0]


async def test_airplane_switch_reads_on_or_off_in_text(handset, data_dir):
    await set_up(handset, locked=False)
    app = make_app(data_dir, handset=handset)
    async with app.run_test(size=SIZE) as pilot:
        await open_app(pilot, "network")
        switch = app.query_one("#net-airplane", Switch)
        assert str(switch.render()) == "[ OFF ]" and switch.styles.border.top[0] in ("", "none")
        await pilot.press("a")
        await settle(pilot)
        assert str(switch.render()) == "[ ON  ]" and handset.modem.airplane
        assert str(app.query_one("#net-rtt-label", Static).render()) == "Round trip  —"
