"""A message through the whole stack, beside the bare ratchet, in one run, printed as JSON.

Full stack: real ``Handset``s (one data folder each; the secure OS set up and unlocked, its
SQLCipher store on disk) attached to one in-process carrier ``Bus`` on the ``full`` profile.
Handsets pair up (1↔2, 3↔4, …) and chat: each phone keeps ``--window`` messages in flight to its
peer and sends the next when one is delivered, all phones at once. A message goes
``Messenger.send_text`` → Double Ratchet → store → modem + reliable hop → bus → the peer's modem
→ its messenger (decrypt, store) → the delivery report back → the sender's messenger marks it
"delivered" in its store. Latency is from the ``send_text`` call to the sender's
``MessageUpdated(state="delivered")`` event; messages/s is all phones' delivered messages over
the wall time of the measurement. Hop frames are counted by the modems' own counters
(``ModemStats.frames_sent``: every frame the bus carried, either direction), after the link
has gone quiet, and divided by the messages delivered.

Bare ratchet: phone_tui's ``Ratchet`` alone, one way (Alice encrypts, Bob decrypts), for a
plaintext built like the messenger's (the same JSON payload), no store, no transport.

Rounds alternate: in each round every handset count runs once, each followed by a bare-ratchet
run, so machine noise falls on both; the ratio full / bare is taken per pair of runs. Medians
and min–max over the rounds. Real asyncio loop, real clock (``SystemClock``), system entropy;
only the PIN's Argon2id is cheap (test parameters: set-up is not what is measured).

RSS per idle unlocked handset: resident memory (/proc/self/statm, which sees SQLCipher's page
cache, unlike tracemalloc) before and after building, setting up, unlocking and attaching N
handsets, divided by N; once per handset count, before any message.

Targets (issue 13): full stack ≥ 15 % of the bare ratchet, messages/s that do not fall as
handsets are added, p99 latency at 30 handsets ≤ 50 ms, ≤ 400 KiB per idle unlocked handset.

    python benchmarks/messenger.py [--rounds 5] [--handsets 2,10,30,100] [--messages 600]
                                   [--window 1] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from phone_tui.core.clock import SystemClock
from phone_tui.core.config import Settings
from phone_tui.core.entropy import SystemEntropy
from phone_tui.core.paths import resolve_paths
from phone_tui.crypto.ratchet import Ratchet
from phone_tui.handset.device import load_device
from phone_tui.handset.handset import Handset
from phone_tui.handset.messenger import MessageUpdated
from phone_tui.handset.payloads import TextPayload
from phone_tui.modem.bus import Bus
from phone_tui.modem.profiles import load_profiles
from phone_tui.testing import FAST_KDF, TEST_PIN

BODY = "Meeting moved to 15:00, room 4B. Bring the signed copy of the draft."
TIMEOUT = 120.0  # seconds one measurement may take before the run is called broken


def filesystem(path: Path) -> str:
    """The type of the file system ``path`` is on (tmpfs would make every fsync free)."""
    best, kind = "", "unknown"
    with open("/proc/mounts") as mounts:
        for line in mounts:
            _device, point, fs_type, *_ = line.split()
            if str(path).startswith(point) and len(point) > len(best):
                best, kind = point, fs_type
    return kind


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@dataclass
class World:
    """N handsets on one bus, paired, unlocked."""

    handsets: list[Handset]
    bus: Bus
    rss_per_handset: int
    build_seconds: float
    pending: dict[str, tuple[int, float]] = field(default_factory=dict)  # id → (phone, t0)


async def build_world(root: Path, count: int, profiles: dict) -> World:  # noqa: ANN001
    gc.collect()
    before = rss_bytes()
    start = time.perf_counter()
    bus = Bus(random.Random(count))
    clock, device = SystemClock(), load_device()
    handsets = []
    for index in range(count):
        paths = resolve_paths(root / f"phone-{index + 1}")
        handset = Handset(paths, Settings(link_profile="full"), clock=clock,
                          entropy=SystemEntropy(), device=device, kdf=FAST_KDF, auto_lock=0)
        await handset.setup(TEST_PIN)
        handsets.append(handset)
    numbers = [handset.line_number(name) for handset in handsets for name in handset.personas]
    if len(set(numbers)) != len(numbers):
        raise SystemExit("two handsets drew the same number: run again")
    for handset in handsets:
        handset.attach(bus, profiles)
        await handset.caught_up()
    await asyncio.sleep(0.05)  # registrations and key publication settle
    build = time.perf_counter() - start
    gc.collect()
    rss = (rss_bytes() - before) // count
    assert all(handset.messenger is not None for handset in handsets)
    return World(handsets, bus, rss, build)


def peer(index: int) -> int:
    return index ^ 1


async def chat(world: World, each: int, window: int) -> dict[str, float]:
    """Every phone sends ``each`` messages to its peer, ``window`` in flight at a time."""
    loop = asyncio.get_running_loop()
    handsets = world.handsets
    numbers = [handset.number for handset in handsets]
    total = each * len(handsets)
    left = [each] * len(handsets)
    latencies: list[float] = []
    failed = [0]
    done = loop.create_future()
    modems = [modem for handset in handsets for modem in handset.modems.values()]

    def send(index: int) -> None:
        if left[index] == 0:
            return
        left[index] -= 1
        messenger = handsets[index].messenger
        assert messenger is not None
        sent_at = time.perf_counter()
        message_id = messenger.send_text(numbers[peer(index)], BODY)
        world.pending[message_id] = (index, sent_at)

    def listener(event: object) -> None:
        if not isinstance(event, MessageUpdated) or event.state not in ("delivered", "failed"):
            return
        entry = world.pending.pop(event.uuid, None)
        if entry is None:
            return
        index, sent_at = entry
        if event.state == "failed":
            failed[0] += 1
        else:
            latencies.append(time.perf_counter() - sent_at)
        if len(latencies) + failed[0] == total and not done.done():
            done.set_result(None)
        # The next message is the phone's next action, not part of handling this report.
        loop.call_soon(send, index)

    stops = [handset.events.listen(listener) for handset in handsets]
    frames_before = sum(modem.stats.frames_sent for modem in modems)
    try:
        start, cpu = time.perf_counter(), time.process_time()
        for index in range(len(handsets)):
            for _ in range(window):
                send(index)
        await asyncio.wait_for(done, TIMEOUT)
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
        # The last acknowledgements and reports belong to these messages too: count them once
        # the link is quiet (no frame for 50 ms).
        frames = -1
        while frames != (frames := sum(modem.stats.frames_sent for modem in modems)):
            await asyncio.sleep(0.05)
    finally:
        for stop in stops:
            stop()
    latencies.sort()
    return {
        "messages_per_second": len(latencies) / elapsed,
        "p50_ms": 1000 * latencies[len(latencies) // 2],
        "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        "frames_per_message": (frames - frames_before) / max(1, len(latencies)),
        "cpu_ms_per_message": 1000 * cpu / max(1, len(latencies)),
        "cpu_share": cpu / elapsed,
        "failed": failed[0],
        "messages": len(latencies),
    }


def bare_ratchet(count: int) -> float:
    """One-way encrypt+decrypt per second with phone_tui's ratchet, the messenger's plaintext."""
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    from phone_tui.crypto.identity import raw_public

    entropy = SystemEntropy()
    payload = TextPayload(str(random.Random(0).getrandbits(128)), BODY, time.time(), 0)
    plaintext = json.dumps(payload.to_dict()).encode()
    bob_spk = X25519PrivateKey.generate()
    sk, ad = os.urandom(32), os.urandom(64)
    alice = Ratchet.initiator(sk, ad, raw_public(bob_spk.public_key()), entropy)
    bob = Ratchet.responder(sk, ad, bob_spk)
    bob.decrypt(*alice.encrypt(b"hello"), entropy)
    start = time.perf_counter()
    for _ in range(count):
        bob.decrypt(*alice.encrypt(plaintext), entropy)
    return count / (time.perf_counter() - start)


def spread(values: list[float], digits: int = 1) -> dict[str, float]:
    return {"median": round(statistics.median(values), digits),
            "min": round(min(values), digits), "max": round(max(values), digits)}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, help="rounds (default 5; 2 with --quick)")
    parser.add_argument("--handsets", help="comma-separated handset counts, each even "
                                           "(default 2,10,30,100; 2,4 with --quick)")
    parser.add_argument("--messages", type=int,
                        help="messages per full-stack run, shared by the phones "
                             "(default 600; 40 with --quick)")
    parser.add_argument("--window", type=int, default=1,
                        help="messages each phone keeps in flight (default 1)")
    parser.add_argument("--ratchet-messages", type=int,
                        help="messages per bare-ratchet run (default 5000; 500 with --quick)")
    parser.add_argument("--folder", type=Path,
                        help="where the phones' data folders go (default: the temp folder)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: small and short")
    args = parser.parse_args()
    rounds = args.rounds or (2 if args.quick else 5)
    counts = [int(n) for n in (args.handsets or ("2,4" if args.quick else "2,10,30,100"))
              .split(",")]
    if any(n < 2 or n % 2 for n in counts):
        parser.error("--handsets: each count must be even and at least 2 (phones chat in pairs)")
    messages = args.messages or (40 if args.quick else 600)
    ratchet_messages = args.ratchet_messages or (500 if args.quick else 5000)
    profiles = load_profiles()

    with tempfile.TemporaryDirectory(dir=args.folder) as folder:
        root = Path(folder).resolve()
        stores_on = f"{root.parent} ({filesystem(root)})"
        # A first phone pays for the imports and libraries (SQLCipher) that every later one
        # shares; it is not counted in anyone's RSS.
        priming = await build_world(root / "priming", 2, profiles)
        worlds: dict[int, World] = {}
        for count in counts:
            worlds[count] = await build_world(root / f"world-{count}", count, profiles)
        # Sessions start (X3DH, the first PREKEY messages) outside the measurement.
        for world in worlds.values():
            await chat(world, 2, 1)
        # What the idle worlds hold is never garbage: keep the collector off it, so the world
        # being measured does not pay to scan the others.
        gc.collect()
        gc.freeze()

        full: dict[int, list[dict[str, float]]] = {count: [] for count in counts}
        bare: list[float] = []
        ratios: dict[int, list[float]] = {count: [] for count in counts}
        for _ in range(rounds):
            for count in counts:
                result = await chat(worlds[count], max(1, messages // count), args.window)
                full[count].append(result)
                rate = bare_ratchet(ratchet_messages)
                bare.append(rate)
                ratios[count].append(result["messages_per_second"] / rate)
        for world in [priming, *worlds.values()]:
            for handset in world.handsets:
                handset.lock("benchmark over")

    per_count = {}
    for count in counts:
        runs = full[count]
        per_count[str(count)] = {
            "messages_per_run": runs[0]["messages"],
            "messages_per_second": spread([r["messages_per_second"] for r in runs]),
            "p50_latency_ms": spread([r["p50_ms"] for r in runs], 2),
            "p99_latency_ms": spread([r["p99_ms"] for r in runs], 2),
            "hop_frames_per_message": spread([r["frames_per_message"] for r in runs], 2),
            "ratio_to_bare_ratchet": spread(ratios[count], 4),
            # CPU time of this process over wall time: well under 1 means it waits (on disk).
            "cpu_ms_per_message": spread([r["cpu_ms_per_message"] for r in runs], 3),
            "cpu_share_of_one_core": spread([r["cpu_share"] for r in runs], 3),
            "failed": sum(r["failed"] for r in runs),
            "rss_kib_per_idle_unlocked_handset": round(worlds[count].rss_per_handset / 1024),
            "set_up_seconds": round(worlds[count].build_seconds, 2),
        }
    largest = max(counts)
    print(json.dumps({
        "benchmark": "messages through the full stack (messenger, ratchet, SQLCipher store on "
                     "disk, modem + reliable hop, bus, the peer's messenger and store) on the "
                     "'full' profile, beside the bare ratchet, real asyncio loop and clock",
        "rounds": rounds,
        "window_per_phone": args.window,
        "interleaving": "each round runs every handset count once, each followed by a "
                        "bare-ratchet run; ratios are per pair of runs",
        "set_up": "PIN KDF: test Argon2id parameters (8 KiB, t=1, p=1), set-up only; system "
                  "entropy, SystemClock; sessions started (X3DH) before the rounds",
        "delivered_means": "the sender's messenger reports state 'delivered' (the recipient's "
                           "report); latency from send_text to that event",
        "stores_on": stores_on,
        "full_stack": per_count,
        "bare_ratchet_one_way_per_second": spread(bare, 0),
        "bare_ratchet_messages_per_run": ratchet_messages,
        "rss_measured_as": "resident set (/proc/self/statm) after building N unlocked handsets "
                           "with their stores, minus before, over N; one sample per count",
        "rss_kib_per_idle_unlocked_handset": round(worlds[largest].rss_per_handset / 1024),
        "rss_handsets": largest,
        "targets": {"ratio_to_bare_ratchet": 0.15, "p99_latency_ms_at_30": 50,
                    "rss_kib_per_idle_unlocked_handset": 400,
                    "messages_per_second": "not falling as handsets are added"},
    }, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
