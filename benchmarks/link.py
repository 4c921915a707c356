"""The emulated link on the real asyncio loop (no fast-forwarding), printed as JSON.

1. Per profile, configured vs measured: median one-way latency (2 000 frames spaced so none
   queues), throughput (a 2 000-frame burst through the rate limiter), loss (20 000 frames,
   judged against the 99 % binomial interval and, for bursty profiles, the interval widened for
   a Gilbert-Elliott chain's correlation).
2. Bus + reliable transport frames per second on `full` with 2 and with 30 handsets, next to a
   bare asyncio.Queue hand-off measured in the same run.
3. Memory: 30 handsets with 10 000 messages held in store-and-forward, against an idle bus.

    python benchmarks/link.py [--profiles lte,3g] [--quick]
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

from phone_tui.modem.bus import Bus
from phone_tui.modem.impairment import LinkImpairment
from phone_tui.modem.profiles import LinkProfile, load_profiles

Z99 = 2.576


async def measure_latency(profile: LinkProfile, frames: int, size: int) -> dict[str, float]:
    """Send frames down the link spaced wider than their serialization; time their arrival."""
    loop = asyncio.get_running_loop()
    link = LinkImpairment(replace(profile, loss=0.0, loss_burst=1.0), random.Random(1))
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
    await done
    configured = profile.latency_ms / 1000 + serialization
    measured = statistics.median(delays)
    return {"configured_ms": round(configured * 1000, 2), "measured_ms": round(measured * 1000, 2),
            "ok": abs(measured - configured) <= max(0.05 * configured, 0.002)}


async def measure_throughput(profile: LinkProfile, frames: int) -> dict[str, float] | None:
    rate = profile.rate_bps("down")
    if not rate:
        return None
    loop = asyncio.get_running_loop()
    size = max(20, int(rate * 1.5 / 8 / frames))  # a burst of about 1.5 s
    unlimited_queue = replace(profile, loss=0.0, loss_burst=1.0, jitter_ms=0.0,
                              queue_kb=frames * size / 1024 + 1)
    link = LinkImpairment(unlimited_queue, random.Random(2))
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
    await done
    # The first frame's serialization happened before it arrived: count the bits after it.
    measured = (frames - 1) * size * 8 / (arrivals[-1] - arrivals[0])
    return {"configured_kbps": rate / 1000, "measured_kbps": round(measured / 1000, 2),
            "frame_bytes": size, "ok": abs(measured - rate) <= 0.05 * rate}


def measure_loss(profile: LinkProfile, frames: int) -> dict[str, object]:
    link = LinkImpairment(replace(profile, down_kbps=0, up_kbps=0), random.Random(3))
    lost = sum(not link.decide(100, "up", index * 1.0).delivered for index in range(frames))
    p, measured = profile.loss, lost / frames
    half = Z99 * math.sqrt(p * (1 - p) / frames)
    # A Gilbert-Elliott chain's losses are correlated (lag-1 ρ = 1 − p_gb − p_bg): the variance
    # of the mean grows by (1 + ρ) / (1 − ρ).
    r = 1 / profile.loss_burst
    gb = p * r / (1 - p) if p < 1 else 1.0
    rho = 1 - gb - r
    inflation = math.sqrt((1 + rho) / (1 - rho)) if -1 < rho < 1 else 1.0
    result: dict[str, object] = {
        "configured": p, "measured": round(measured, 5), "frames": frames,
        "binomial_99": [round(max(0.0, p - half), 5), round(min(1.0, p + half), 5)],
        "ok": p - half <= measured <= p + half,
    }
    if inflation > 1.05:
        wide = half * inflation
        result["burst_adjusted_99"] = [round(max(0.0, p - wide), 5), round(min(1.0, p + wide), 5)]
        result["ok_burst_adjusted"] = p - wide <= measured <= p + wide
    return result


async def bus_frames_per_second(handsets: int, messages_each: int,
                                profile: LinkProfile) -> dict[str, float]:
    """Each phone sends to the next; count hop frames the link carried per second."""
    bus = Bus(random.Random(4))
    received = [0]
    total = handsets * messages_each
    done = asyncio.get_running_loop().create_future()

    def on_message(_envelope: object) -> None:
        received[0] += 1
        if received[0] == total and not done.done():
            done.set_result(None)

    modems = [bus.attach(f"+{index}", profile, on_message=on_message,
                         on_state=lambda *_: None) for index in range(handsets)]
    body = bytes(160)
    start = time.perf_counter()
    for round_ in range(messages_each):
        for index, modem in enumerate(modems):
            modem.send(f"+{(index + 1) % handsets}", body)
        if round_ % 50 == 49:
            await asyncio.sleep(0)
    await done
    await asyncio.sleep(0.05)  # the last acknowledgements and reports
    elapsed = time.perf_counter() - start
    frames = sum(modem.stats.frames_sent for modem in modems)
    return {"handsets": handsets, "messages": total, "frames": frames,
            "frames_per_second": round(frames / elapsed), "messages_per_second":
            round(total / elapsed)}


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
    parser.add_argument("--quick", action="store_true", help="fewer frames, for a smoke run")
    args = parser.parse_args()
    profiles = load_profiles()
    names = args.profiles.split(",") if args.profiles else [
        name for name, profile in profiles.items() if profile.in_service]
    frames = 300 if args.quick else 2000
    per_profile = {}
    for name in names:
        profile = profiles[name]
        per_profile[name] = {
            "latency": await measure_latency(profile, frames, 40),
            "throughput": await measure_throughput(profile, frames),
            "loss": measure_loss(profile, 10 * frames),
        }
    full = profiles["full"]
    queue_rate = await queue_hand_off(20_000 if args.quick else 200_000, 1)
    batch_rate = await queue_hand_off(20_000 if args.quick else 200_000, 0)
    two = await bus_frames_per_second(2, 250 if args.quick else 2000, full)
    thirty = await bus_frames_per_second(30, 20 if args.quick else 150, full)
    memory = await store_memory(30, 1000 if args.quick else 10_000, full)
    print(json.dumps({
        "benchmark": "modem link on the real asyncio loop",
        "profiles": per_profile,
        "bus": {
            "asyncio_queue_hand_off_per_second": round(queue_rate),
            "asyncio_queue_batched_per_second": round(batch_rate),
            "two_handsets": two,
            "thirty_handsets": thirty,
            "ratio_to_hand_off_2": round(two["frames_per_second"] / queue_rate, 3),
            "ratio_to_hand_off_30": round(thirty["frames_per_second"] / queue_rate, 3),
            "ratio_to_batched_2": round(two["frames_per_second"] / batch_rate, 3),
            "target_ratio": 0.25,
        },
        "store_and_forward_memory": memory,
    }, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
