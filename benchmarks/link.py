"""The emulated link on the real asyncio loop (no fast-forwarding), printed as JSON.

Every figure is measured in each of --rounds rounds (default 5) and printed as median and
min–max; things compared run in the same round, in an order rotated each round, and a ratio is
taken per round before its median and min–max.

1. Per profile, the impairment model, configured vs measured: median one-way latency (frames
   spaced so none queues), throughput (a burst through the rate limiter), loss (judged against
   the 99 % binomial interval over all rounds' frames and, for bursty profiles, the interval
   widened for a Gilbert-Elliott chain's correlation).
2. Per profile, latency through the real thing: a Bus and two Modems, A sends B 160-byte
   messages at a person's pace (the next once the last would have arrived: latency + jitter);
   from ``Modem.send`` to the message reaching B (A's reliable hop up, the network, B's hop
   down, retransmissions after loss included) and to A hearing B's delivery report; p50 and
   p99 per round and over all rounds' messages, beside the model's two one-way hops.
3. Bus + reliable transport on `full` with 2 and with 30 handsets: end-to-end messages per
   second (arrived at the recipient's modem) and hop frames per second (every frame the links
   carried, acknowledgements and delivery reports included, counted once the links are quiet),
   beside a bare asyncio.Queue hand-off between two tasks (and its batched rate), each round
   running the four in a rotated order; ratios in messages and in frames.
4. Memory: 30 handsets with 10 000 messages held in store-and-forward, against an idle bus
   (tracemalloc; once: it does not vary with timing).

Times are wall clock (the link's delays are wall-clock delays); CPU time per bus message is
printed beside them, steadier on a shared machine.

    python benchmarks/link.py [--rounds 5] [--profiles lte,3g] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import math
import random
import statistics
import time
import tracemalloc
from dataclasses import replace

from spread import ratio_spread, rotated, spread

from phone_tui.modem.bus import Bus
from phone_tui.modem.frames import Envelope
from phone_tui.modem.impairment import LinkImpairment
from phone_tui.modem.profiles import LinkProfile, load_profiles

Z99 = 2.576
TIMEOUT = 120.0  # seconds one measurement may take before the run is called broken
FRAME_BYTES = 250  # about what a 160-byte message's hop frame weighs on the link


async def model_latency(profile: LinkProfile, frames: int, size: int,
                        seed: int) -> tuple[float, float]:
    """(configured, measured median) one-way seconds of frames sent down the impairment model,
    spaced wider than their serialization."""
    loop = asyncio.get_running_loop()
    link = LinkImpairment(replace(profile, loss=0.0, loss_burst=1.0), random.Random(seed))
    rate = profile.rate_bps("down")
    serialization = size * 8 / rate if rate else 0.0
    spacing = max(0.002, serialization * 1.25)
    delays: list[float] = []
    done = loop.create_future()

    def arrived(sent: float) -> None:
        delays.append(loop.time() - sent)
        if len(delays) == frames and not done.done():
            done.set_result(None)

    start = loop.time() + 0.01
    for index in range(frames):
        when = start + index * spacing

        def send(when: float = when) -> None:
            now = loop.time()
            decision = link.decide(size, "down", now)
            loop.call_at(decision.arrivals[0], arrived, now)

        loop.call_at(when, send)
    await asyncio.wait_for(done, TIMEOUT)
    return profile.latency_ms / 1000 + serialization, statistics.median(delays)


async def model_throughput(profile: LinkProfile, frames: int, seed: int,
                           burst_seconds: float) -> tuple[float, int] | None:
    """(measured bit/s, frame bytes) of a burst of about ``burst_seconds`` through the rate
    limiter, or None for a profile without one."""
    rate = profile.rate_bps("down")
    if not rate:
        return None
    loop = asyncio.get_running_loop()
    size = max(20, int(rate * burst_seconds / 8 / frames))
    unlimited_queue = replace(profile, loss=0.0, loss_burst=1.0, jitter_ms=0.0,
                              queue_kb=frames * size / 1024 + 1)
    link = LinkImpairment(unlimited_queue, random.Random(seed))
    arrivals: list[float] = []
    done = loop.create_future()

    def arrived() -> None:
        arrivals.append(loop.time())
        if len(arrivals) == frames and not done.done():
            done.set_result(None)

    now = loop.time()
    for _ in range(frames):
        decision = link.decide(size, "down", now)
        loop.call_at(decision.arrivals[0], arrived)
    await asyncio.wait_for(done, TIMEOUT)
    # The first frame's serialization happened before it arrived: count the bits after it.
    return (frames - 1) * size * 8 / (arrivals[-1] - arrivals[0]), size


def model_losses(profile: LinkProfile, frames: int, seed: int) -> int:
    """Frames the model drops out of ``frames`` (seeded per round)."""
    link = LinkImpairment(replace(profile, down_kbps=0, up_kbps=0), random.Random(seed))
    return sum(not link.decide(100, "up", index * 1.0).delivered for index in range(frames))


def judge_loss(profile: LinkProfile, lost: list[int], frames: int) -> dict[str, object]:
    """Per-round loss rates, and the total judged against the 99 % interval."""
    total = frames * len(lost)
    p, measured = profile.loss, sum(lost) / total
    half = Z99 * math.sqrt(p * (1 - p) / total)
    # A Gilbert-Elliott chain's losses are correlated (lag-1 ρ = 1 − p_gb − p_bg): the variance
    # of the mean grows by (1 + ρ) / (1 − ρ).
    r = 1 / profile.loss_burst
    gb = p * r / (1 - p) if p < 1 else 1.0
    rho = 1 - gb - r
    inflation = math.sqrt((1 + rho) / (1 - rho)) if -1 < rho < 1 else 1.0
    result: dict[str, object] = {
        "configured": p, "per_round": spread([n / frames for n in lost], 5),
        "all_rounds": round(measured, 5), "frames": total,
        "binomial_99": [round(max(0.0, p - half), 5), round(min(1.0, p + half), 5)],
        "ok": p - half <= measured <= p + half,
    }
    if inflation > 1.05:
        wide = half * inflation
        result["burst_adjusted_99"] = [round(max(0.0, p - wide), 5), round(min(1.0, p + wide), 5)]
        result["ok_burst_adjusted"] = p - wide <= measured <= p + wide
    return result


async def bus_throughput(handsets: int, messages_each: int,
                         profile: LinkProfile) -> dict[str, float]:
    """Each phone sends to the next; end-to-end messages (arrived at the recipient's modem) and
    the hop frames the links carried for them, per second of the run."""
    bus = Bus(random.Random(4))
    received = [0]
    total = handsets * messages_each
    loop = asyncio.get_running_loop()
    done = loop.create_future()

    def on_message(_envelope: object) -> None:
        received[0] += 1
        if received[0] == total and not done.done():
            done.set_result(None)

    modems = [bus.attach(f"+{index}", profile, on_message=on_message,
                         on_state=lambda *_: None) for index in range(handsets)]
    body = bytes(160)
    start, cpu = time.perf_counter(), time.process_time()
    for round_ in range(messages_each):
        for index, modem in enumerate(modems):
            modem.send(f"+{(index + 1) % handsets}", body)
        if round_ % 50 == 49:
            await asyncio.sleep(0)
    await asyncio.wait_for(done, TIMEOUT)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    # The acknowledgements and delivery reports still in the air belong to these messages:
    # count the frames once the links are quiet (none for 50 ms), outside the timed part.
    frames = -1
    while frames != (frames := sum(modem.stats.frames_sent for modem in modems)):
        await asyncio.sleep(0.05)
    for modem in modems:
        bus.detach(modem.number)
    return {"messages_per_second": total / elapsed, "frames_per_second": frames / elapsed,
            "frames_per_message": frames / total, "cpu_us_per_message": 1e6 * cpu / total}


async def bus_latency(profile: LinkProfile, messages: int, seed: int) -> dict[str, object]:
    """Two phones on one bus, on ``profile``: A sends B ``messages`` 160-byte messages, spaced
    by ``latency_spacing``. Latency from ``Modem.send`` to the message reaching B's
    modem (the reliable hop up, the network, the reliable hop down: retransmissions included)
    and to A's modem hearing B's delivery report."""
    loop = asyncio.get_running_loop()
    bus = Bus(random.Random(seed))
    sent: dict[bytes, float] = {}
    one_way: list[float] = []
    reported: list[float] = []
    done = loop.create_future()

    def on_message(envelope: Envelope) -> None:
        one_way.append(loop.time() - sent[envelope.msg_id])

    def on_state(msg_id: bytes, state: str, _reason: str) -> None:
        if state in ("delivered", "failed"):
            reported.append(loop.time() - sent[msg_id] if state == "delivered" else math.inf)
            if len(reported) == messages and not done.done():
                done.set_result(None)

    sender = bus.attach("+1", profile, on_message=lambda _e: None, on_state=on_state)
    bus.attach("+2", profile, on_message=on_message, on_state=lambda *_: None)
    spacing = latency_spacing(profile)
    for _ in range(messages):
        msg_id = sender.send("+2", bytes(160))
        sent[msg_id] = loop.time()
        await asyncio.sleep(spacing)
    await asyncio.wait_for(done, TIMEOUT)
    for modem_number in ("+1", "+2"):
        bus.detach(modem_number)
    one_way.sort()
    reported.sort()
    return {"one_way": one_way, "reported": reported,
            "one_way_p50_ms": 1000 * percentile(one_way, 0.5),
            "one_way_p99_ms": 1000 * percentile(one_way, 0.99),
            "delivered_report_p50_ms": 1000 * percentile(reported, 0.5),
            "delivered_report_p99_ms": 1000 * percentile(reported, 0.99),
            "spacing_ms": 1000 * spacing, "messages": messages}


def latency_spacing(profile: LinkProfile) -> float:
    """Time between two messages in the latency run: a person's pace, not a burst. The next
    message leaves once the last one would have arrived (one-way latency plus jitter), so a
    message rarely waits behind another's retransmission (the hop delivers in order), and
    never behind another's serialization."""
    slowest = min(rate for rate in (profile.rate_bps("up"), profile.rate_bps("down"),
                                    math.inf) if rate)
    return max(0.01, 4 * FRAME_BYTES * 8 / slowest,
               (profile.latency_ms + profile.jitter_ms) / 1000)


def percentile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def queue_hand_off(items: int, maxsize: int) -> float:
    """Items per second from a producer task to a consumer task through a bare asyncio.Queue.

    maxsize=1 hands each item over before the next is made (one task switch per item, as a
    frame crossing the bus is); maxsize=0 lets the producer run ahead (batches, no switches)."""
    queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize)
    item = bytes(200)

    async def consume() -> None:
        for _ in range(items):
            await queue.get()

    consumer = asyncio.ensure_future(consume())
    start = time.perf_counter()
    for _ in range(items):
        await queue.put(item)
    await consumer
    return items / (time.perf_counter() - start)


async def store_memory(handsets: int, held: int, profile: LinkProfile) -> dict[str, float]:
    gc.collect()
    tracemalloc.start()
    bus = Bus(random.Random(5))
    modems = [bus.attach(f"+{index}", profile, on_message=lambda _e: None,
                         on_state=lambda *_: None) for index in range(handsets)]
    await asyncio.sleep(0.05)
    idle, _ = tracemalloc.get_traced_memory()
    for modem in modems[1:]:
        modem.set_airplane(True)
    sender = modems[0]
    for index in range(held):
        sender.send(f"+{1 + index % (handsets - 1)}", bytes(160))
        if index % 200 == 199:
            await asyncio.sleep(0.001)
    while sum(bus.stored_for(f"+{i}") for i in range(1, handsets)) < held:
        await asyncio.sleep(0.01)
    gc.collect()
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"handsets": handsets, "held_messages": held,
            "mib_above_idle_bus": round((peak - idle) / 2**20, 2), "target_mib": 60,
            "ok": (peak - idle) / 2**20 <= 60}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", help="comma-separated profile names (default: all)")
    parser.add_argument("--rounds", type=int, help="rounds (default 5; 2 with --quick)")
    parser.add_argument("--frames", type=int,
                        help="model frames per profile per round (default 400; 60 with --quick)")
    parser.add_argument("--bus-messages", type=int,
                        help="bus latency: messages per profile per round, at most 3 s of "
                             "sending (default 100; 10 with --quick)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: small and short")
    args = parser.parse_args()
    profiles = load_profiles()
    names = args.profiles.split(",") if args.profiles else [
        name for name, profile in profiles.items() if profile.in_service]
    unknown = [name for name in names if name not in profiles]
    if unknown:
        parser.error(f"--profiles: no profile named {', '.join(unknown)}")
    quick = args.quick
    rounds = args.rounds or (2 if quick else 5)
    frames = args.frames or (60 if quick else 400)
    bus_messages = args.bus_messages or (10 if quick else 100)
    burst = 0.05 if quick else 0.5
    hand_off_items = 5_000 if quick else 100_000
    each = {2: 50 if quick else 1000, 30: 3 if quick else 100}
    full = profiles["full"]

    latency: dict[str, list[tuple[float, float]]] = {name: [] for name in names}
    rate: dict[str, list[tuple[float, int] | None]] = {name: [] for name in names}
    lost: dict[str, list[int]] = {name: [] for name in names}
    through_bus: dict[str, list[dict[str, float]]] = {name: [] for name in names}
    bus: dict[str, list] = {"hand_off": [], "batched": [], "bus_2": [], "bus_30": []}
    for round_index in range(rounds):
        seed = 1000 * round_index
        for name in rotated(names, round_index):
            profile = profiles[name]
            latency[name].append(await model_latency(profile, frames, 40, seed + 1))
            rate[name].append(await model_throughput(profile, frames, seed + 2, burst))
            lost[name].append(model_losses(profile, 10 * frames, seed + 3))
            # At most about 3 s of sending per profile and round (gprs spaces them widely).
            count = max(5, min(bus_messages, int(3.0 / latency_spacing(profile))))
            through_bus[name].append(await bus_latency(profile, count, seed + 4))
        for kind in rotated(list(bus), round_index):
            if kind == "hand_off":
                bus[kind].append(await queue_hand_off(hand_off_items, 1))
            elif kind == "batched":
                bus[kind].append(await queue_hand_off(hand_off_items, 0))
            else:
                handsets = int(kind.split("_")[1])
                bus[kind].append(await bus_throughput(handsets, each[handsets], full))
    memory = await store_memory(30, 300 if quick else 10_000, full)

    per_profile = {}
    for name in names:
        profile = profiles[name]
        configured = latency[name][0][0]
        measured = [m for _c, m in latency[name]]
        middle = statistics.median(measured)
        rates = rate[name]
        throughput = None
        if rates[0] is not None:
            bps = [r[0] for r in rates if r is not None]
            target = profile.rate_bps("down")
            throughput = {"configured_kbps": target / 1000,
                          "measured_kbps": spread([b / 1000 for b in bps], 2),
                          "frame_bytes": rates[0][1],
                          "ok": abs(statistics.median(bps) - target) <= 0.05 * target}
        runs = through_bus[name]
        two_hops = 2 * profile.latency_ms
        pooled = sorted(t for r in runs for t in r["one_way"])
        pooled_reports = sorted(t for r in runs for t in r["reported"])
        per_profile[name] = {
            "model_latency": {
                "configured_ms": round(configured * 1000, 2),
                "measured_median_ms": spread([1000 * m for m in measured], 2),
                "ok": abs(middle - configured) <= max(0.05 * configured, 0.002)},
            "model_throughput": throughput,
            "model_loss": judge_loss(profile, lost[name], 10 * frames),
            "through_bus": {
                "messages_per_round": int(runs[0]["messages"]),
                "spacing_ms": round(runs[0]["spacing_ms"], 1),
                "model_two_hops_ms": two_hops,
                "all_rounds_one_way_p50_ms": round(1000 * percentile(pooled, 0.5), 2),
                "all_rounds_one_way_p99_ms": round(1000 * percentile(pooled, 0.99), 2),
                "all_rounds_delivered_report_p99_ms": round(
                    1000 * percentile(pooled_reports, 0.99), 2),
                "one_way_p50_ms": spread([r["one_way_p50_ms"] for r in runs], 2),
                "one_way_p99_ms": spread([r["one_way_p99_ms"] for r in runs], 2),
                "delivered_report_p50_ms": spread([r["delivered_report_p50_ms"] for r in runs],
                                                  2),
                "delivered_report_p99_ms": spread([r["delivered_report_p99_ms"] for r in runs],
                                                  2),
                "one_way_p50_over_model": (ratio_spread(
                    [r["one_way_p50_ms"] for r in runs], [two_hops] * len(runs), 3)
                    if two_hops else None),
            },
        }
    hand_off, batched = bus["hand_off"], bus["batched"]
    sections = {}
    for kind, handsets in (("bus_2", 2), ("bus_30", 30)):
        runs = bus[kind]
        msgs = [r["messages_per_second"] for r in runs]
        hops = [r["frames_per_second"] for r in runs]
        sections[f"{handsets}_handsets"] = {
            "messages_per_run": handsets * each[handsets],
            "messages_per_second": spread(msgs, 0),
            "frames_per_second": spread(hops, 0),
            "frames_per_message": spread([r["frames_per_message"] for r in runs], 2),
            "cpu_us_per_message": spread([r["cpu_us_per_message"] for r in runs], 1),
            "messages_over_hand_off": ratio_spread(msgs, hand_off, 4),
            "frames_over_hand_off": ratio_spread(hops, hand_off, 4),
            "frames_over_batched": ratio_spread(hops, batched, 4),
        }
    print(json.dumps({
        "benchmark": "modem link on the real asyncio loop",
        "rounds": rounds,
        "interleaving": "each round measures every profile (order rotated) and then the bus "
                        "and the queue hand-offs (order rotated); ratios per round",
        "profiles": per_profile,
        "bus": {
            "asyncio_queue_hand_off_per_second": spread(hand_off, 0),
            "asyncio_queue_batched_per_second": spread(batched, 0),
            **sections,
            "target_frames_over_hand_off": 0.25,
        },
        "store_and_forward_memory": memory,
    }, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
