"""Plain SMS through the whole path a user pays for, beside an E2E message, printed as JSON.

Real ``Handset``s (Open OS, set up and unlocked, each with its SQLCipher store on disk) on one
in-process carrier ``Bus`` with a folder (the SMS centre's queue in ``smsc.db``, the mailbox
beside it). The Open OS has both plain SMS (``handset.send_sms``) and the messenger, so the same
two phones, lines and network carry both.

1. Latency on ``lte``, 2 phones: a 1-part, a 3-part (GSM-7, 400 characters) and a 2-part UCS-2
   SMS from ``send_sms`` on A to ``TextReceived`` on B (the text committed to B's store, all
   parts put together), beside the same text end to end (``messenger.send_text`` to B's
   ``MessageReceived``). One message at a time: the next leaves once the last reached its
   final state at the sender (SMS: its status report says "delivered"; E2E: "delivered"), so
   no sample queues behind another. Per round p50 and p99 of ``--samples`` messages each;
   the six (kind × path) run in an order rotated each round.
2. Throughput on ``full``, 30 phones in a ring (phone i texts phone i+1), each keeping
   ``--window`` in flight: SMS received per second, beside E2E messages received per second
   on the same phones, in alternating order. CPU: of this whole process per message, and the
   carrier's share (its uplink frame handling, the SMS service, the SMSC and its smsc.db writes,
   timed at the carrier's entry points) per SMS.
3. Store-and-forward on ``full``: 2 000 1-part SMS from 10 phones for one phone switched off
   (the SMSC's per-recipient cap is raised for it, see "odd" below), then it is switched on:
   time until all 2 000 are in its store; the smsc.db size (with its WAL) with them queued; the
   carrier's traced memory (tracemalloc) for them, in a separate pass (tracing slows the rest).

Medians and min–max over ``--rounds`` (default 5). Real asyncio loop, real clock, system
entropy; only the PIN's Argon2id is cheap (test parameters: set-up is not what is measured).

    python benchmarks/sms.py [--rounds 5] [--samples 15] [--phones 30] [--messages 600]
                             [--window 2] [--queued 2000] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

from spread import ratio_spread, rotated, spread

from phone_tui.core.clock import SystemClock
from phone_tui.core.config import Settings
from phone_tui.core.entropy import SystemEntropy
from phone_tui.core.paths import resolve_paths
from phone_tui.handset.device import load_device
from phone_tui.handset.handset import Handset
from phone_tui.handset.messenger import MessageReceived, MessageUpdated
from phone_tui.handset.texts import TextReceived, TextUpdated
from phone_tui.modem import carrier as carrier_module
from phone_tui.modem import sms_service
from phone_tui.modem.bus import Bus
from phone_tui.modem.profiles import load_profiles
from phone_tui.modem.sms import Encoding, segments
from phone_tui.modem.smsc import MAX_QUEUED_PER_RECIPIENT, SMSC_FILE
from phone_tui.testing import FAST_KDF, TEST_PIN

TIMEOUT = 120.0  # seconds one measurement may take before the run is called broken
SHORT = "Meeting moved to 15:00, room 4B. Bring the signed copy of the draft."
GSM7_400 = ("Convoy leaves gate 3 at 06:40; route B via the river road, checkpoint codes as "
            "agreed on Monday. ") * 5
UCS2_2 = "Встреча перенесена на 15:00, комната 4Б. Возьмите подписанную копию проекта, прошу."
KINDS = {"1_part": (SHORT, 1, Encoding.GSM7), "3_part_gsm7": (GSM7_400[:400], 3, Encoding.GSM7),
         "2_part_ucs2": (UCS2_2, 2, Encoding.UCS2)}


def digits(number: str) -> str:
    return number.replace(" ", "")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


class CarrierCpu:
    """CPU time spent inside the carrier's entry points (nested calls counted once)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._depth = 0
        self._undo: list[Callable[[], None]] = []

    def wrap(self, owner: type, name: str) -> None:
        original = getattr(owner, name)

        def timed(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            self._depth += 1
            start = time.process_time() if self._depth == 1 else 0.0
            try:
                return original(*args, **kwargs)
            finally:
                if self._depth == 1:
                    self.seconds += time.process_time() - start
                self._depth -= 1

        setattr(owner, name, timed)
        self._undo.append(lambda: setattr(owner, name, original))

    def __enter__(self) -> CarrierCpu:
        # What a phone's frame, the SMS centre's timer and its settling on the next loop turn
        # start at the carrier; everything the carrier does runs inside one of these.
        self.wrap(carrier_module.Carrier, "_network_receive")
        self.wrap(carrier_module.Carrier, "_update_registration")
        self.wrap(sms_service.SmsService, "_tick")
        self.wrap(sms_service.SmsService, "_settle")
        return self

    def __exit__(self, *exc: object) -> None:
        for undo in reversed(self._undo):
            undo()


async def build(root: Path, count: int, profile: str, profiles: dict,  # noqa: ANN001
                seed: int) -> tuple[Bus, list[Handset]]:
    """``count`` Open OS handsets, unlocked, on a new carrier whose files are in root/carrier."""
    bus = Bus(random.Random(seed), folder=root / "carrier")
    clock, device = SystemClock(), load_device()
    handsets = []
    for index in range(count):
        handset = Handset(resolve_paths(root / f"phone-{index + 1}"),
                          Settings(persona="open", link_profile=profile), clock=clock,
                          entropy=SystemEntropy(), device=device, kdf=FAST_KDF, auto_lock=0)
        await handset.setup(TEST_PIN)
        handsets.append(handset)
    numbers = [digits(handset.line_number(name)) for handset in handsets
               for name in handset.personas]
    if len(set(numbers)) != len(numbers):
        raise SystemExit("two handsets drew the same number: run again")
    for handset in handsets:
        handset.attach(bus, profiles)
        await handset.caught_up()
    await asyncio.sleep(0.1)  # registrations and key publication settle
    assert all(h.texts is not None and h.messenger is not None for h in handsets)
    return bus, handsets


def close(bus: Bus, handsets: list[Handset]) -> None:
    for handset in handsets:
        handset.lock("benchmark over")
    bus.close()


# -- 1. latency -----------------------------------------------------------------------------------

async def one_latency(a: Handset, b: Handset, path: str, body: str) -> tuple[float, float]:
    """(seconds to the text in B's store, seconds to its final state at A) of one message."""
    loop = asyncio.get_running_loop()
    received, settled = loop.create_future(), loop.create_future()
    sender, mine = digits(a.number), {}

    def on_b(event: object) -> None:
        if received.done():
            return
        if path == "sms" and isinstance(event, TextReceived) and event.number == sender \
                or path == "e2e" and isinstance(event, MessageReceived) \
                and event.uuid == mine.get("id"):
            received.set_result(time.perf_counter())

    def on_a(event: object) -> None:
        if settled.done():
            return
        if path == "sms" and isinstance(event, TextUpdated) and event.text_id == mine.get("id") \
                and event.state in ("delivered", "failed", "expired") \
                or path == "e2e" and isinstance(event, MessageUpdated) \
                and event.uuid == mine.get("id") and event.state in ("delivered", "failed"):
            settled.set_result((time.perf_counter(), event.state))

    stops = [b.events.listen(on_b), a.events.listen(on_a)]
    try:
        start = time.perf_counter()
        if path == "sms":
            mine["id"] = a.send_sms(b.number, body).id
        else:
            assert a.messenger is not None
            mine["id"] = a.messenger.send_text(b.number, body)
        got = await asyncio.wait_for(received, TIMEOUT)
        done, state = await asyncio.wait_for(settled, TIMEOUT)
    finally:
        for stop in stops:
            stop()
    if state != "delivered":
        raise SystemExit(f"a {path} message ended {state!r}")
    return got - start, done - start


async def latency(a: Handset, b: Handset, samples: int, rounds: int) -> dict:
    runs = [(kind, path) for kind in KINDS for path in ("sms", "e2e")]
    per_round: dict[tuple[str, str], list[dict[str, float]]] = {run: [] for run in runs}
    pooled: dict[tuple[str, str], list[float]] = {run: [] for run in runs}
    for round_index in range(rounds):
        for kind, path in rotated(runs, round_index):
            body = KINDS[kind][0]
            got, done = [], []
            for _ in range(samples):
                to_store, to_final = await one_latency(a, b, path, body)
                got.append(to_store)
                done.append(to_final)
            per_round[kind, path].append({"p50": 1000 * percentile(got, 0.5),
                                          "p99": 1000 * percentile(got, 0.99),
                                          "final_p50": 1000 * percentile(done, 0.5)})
            pooled[kind, path].extend(got)
    out: dict[str, dict] = {}
    for kind in KINDS:
        out[kind] = {"text_chars": len(KINDS[kind][0]), "sms_parts": KINDS[kind][1],
                     "encoding": KINDS[kind][2].name}
        for path in ("sms", "e2e"):
            runs_ = per_round[kind, path]
            out[kind][path] = {
                "p50_ms": spread([r["p50"] for r in runs_], 1),
                "p99_ms": spread([r["p99"] for r in runs_], 1),
                "p99_ms_all_rounds": round(1000 * percentile(pooled[kind, path], 0.99), 1),
                "to_delivered_at_sender_p50_ms": spread([r["final_p50"] for r in runs_], 1),
            }
        out[kind]["sms_over_e2e_p50"] = ratio_spread(
            [r["p50"] for r in per_round[kind, "sms"]],
            [r["p50"] for r in per_round[kind, "e2e"]], 2)
    return out


# -- 2. throughput --------------------------------------------------------------------------------

async def ring(bus: Bus, handsets: list[Handset], path: str, each: int,
               window: int) -> dict[str, float]:
    """Phone i sends ``each`` messages to phone i+1, ``window`` in flight; counted received."""
    loop = asyncio.get_running_loop()
    count = len(handsets)
    numbers = [digits(h.number) for h in handsets]
    index_of = {number: i for i, number in enumerate(numbers)}
    left, total = [each] * count, each * count
    got = [0]
    done = loop.create_future()

    def send(index: int) -> None:
        if left[index] == 0:
            return
        left[index] -= 1
        to = handsets[(index + 1) % count].number
        if path == "sms":
            handsets[index].send_sms(to, SHORT)
        else:
            messenger = handsets[index].messenger
            assert messenger is not None
            messenger.send_text(to, SHORT)

    def listener(event: object) -> None:
        kind = TextReceived if path == "sms" else MessageReceived
        if not isinstance(event, kind):
            return
        sender = index_of.get(digits(event.number))
        if sender is None:
            return
        got[0] += 1
        if got[0] == total and not done.done():
            done.set_result(None)
        loop.call_soon(send, sender)  # the sender's next text: its own action, not this one's

    stops = [h.events.listen(listener) for h in handsets]
    submitted = bus.sms.stats.submitted
    try:
        with CarrierCpu() as carrier_cpu:
            start, cpu = time.perf_counter(), time.process_time()
            for index in range(count):
                for _ in range(window):
                    send(index)
            await asyncio.wait_for(done, TIMEOUT)
            elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
            carrier = carrier_cpu.seconds
        # Status reports and delivery reports still on their way belong to these messages:
        # let them land before the next run.
        await settle(bus)
    finally:
        for stop in stops:
            stop()
    if path == "sms":
        assert bus.sms.stats.submitted - submitted == total
    return {"per_second": total / elapsed, "cpu_ms_per_message": 1000 * cpu / total,
            "carrier_cpu_ms_per_message": 1000 * carrier / total,
            "cpu_share": cpu / elapsed, "messages": total}


async def settle(bus: Bus, quiet: float = 0.05) -> None:
    """Until the SMS centre has nothing queued and the links were quiet for ``quiet`` s."""
    frames = -1
    for _ in range(int(TIMEOUT / quiet)):
        now = sum(m.stats.frames_sent for m in bus._modems.values())
        if now == frames and bus.sms.smsc.queued_parts == 0 and not bus.sms._in_flight:
            return
        frames = now
        await asyncio.sleep(quiet)


async def throughput(bus: Bus, handsets: list[Handset], messages: int, window: int,
                     rounds: int) -> dict:
    each = max(1, messages // len(handsets))
    # Sessions start (X3DH) and every phone's first text outside the measurement.
    await ring(bus, handsets, "e2e", 1, 1)
    await ring(bus, handsets, "sms", 1, 1)
    runs: dict[str, list[dict[str, float]]] = {"sms": [], "e2e": []}
    for round_index in range(rounds):
        for path in rotated(["sms", "e2e"], round_index):
            runs[path].append(await ring(bus, handsets, path, each, window))
    out: dict[str, object] = {"phones": len(handsets), "messages_per_run": each * len(handsets),
                              "window_per_phone": window}
    for path in ("sms", "e2e"):
        out[path] = {
            "per_second": spread([r["per_second"] for r in runs[path]], 1),
            "process_cpu_ms_per_message": spread([r["cpu_ms_per_message"] for r in runs[path]],
                                                 3),
            "carrier_cpu_ms_per_message": spread(
                [r["carrier_cpu_ms_per_message"] for r in runs[path]], 3),
            "cpu_share_of_one_core": spread([r["cpu_share"] for r in runs[path]], 3),
        }
    out["sms_over_e2e_per_second"] = ratio_spread([r["per_second"] for r in runs["sms"]],
                                                  [r["per_second"] for r in runs["e2e"]], 3)
    return out


# -- 3. store-and-forward -------------------------------------------------------------------------

async def queue_for(bus: Bus, senders: list[Handset], target: Handset, total: int) -> float:
    """``total`` SMS from ``senders`` for ``target`` (switched off); seconds until all are
    accepted by the SMSC (each sender's text "sent")."""
    loop = asyncio.get_running_loop()
    accepted = [0]
    done = loop.create_future()

    def listener(event: object) -> None:
        if isinstance(event, TextUpdated) and event.state in ("sent", "failed"):
            accepted[0] += 1
            if accepted[0] == total and not done.done():
                done.set_result(None)

    stops = [h.events.listen(listener) for h in senders]
    start = time.perf_counter()
    try:
        for number in range(total):
            senders[number % len(senders)].send_sms(target.number, f"{number:05d} {SHORT}")
            if number % 50 == 49:
                await asyncio.sleep(0)  # let the hops carry them, as phones would over time
        await asyncio.wait_for(done, TIMEOUT)
    finally:
        for stop in stops:
            stop()
    return time.perf_counter() - start


async def store_and_forward(root: Path, profiles: dict, total: int, rounds: int,  # noqa: ANN001
                            senders: int) -> dict:
    drains, queue_s, sizes, wals = [], [], [], []
    default_cap_accepted = None
    for round_index in range(rounds):
        bus, handsets = await build(root / f"saf-{round_index}", senders + 1, "full", profiles,
                                    100 + round_index)
        target, others = handsets[0], handsets[1:]
        if round_index == 0:
            default_cap_accepted = await default_cap(bus, others, target, total)
        bus.sms.smsc.max_per_recipient = max(total, MAX_QUEUED_PER_RECIPIENT)
        target.modem.set_powered(False)
        await asyncio.sleep(0.05)
        queue_s.append(await queue_for(bus, others, target, total))
        queued = bus.sms.smsc.queued(digits(target.number))
        if queued != total:
            raise SystemExit(f"{queued} of {total} queued")
        await asyncio.sleep(0.1)
        wal = bus.folder / (SMSC_FILE + "-wal")
        wals.append(wal.stat().st_size if wal.exists() else 0)
        # The rows themselves: the WAL folded into the file (it grows to SQLite's 1 000-page
        # checkpoint otherwise, whatever is queued).
        bus.sms.smsc.store._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        sizes.append((bus.folder / SMSC_FILE).stat().st_size)
        got = [0]
        loop = asyncio.get_running_loop()
        done = loop.create_future()

        def listener(event: object, got: list[int] = got, done: asyncio.Future = done) -> None:
            if isinstance(event, TextReceived):
                got[0] += 1
                if got[0] == total and not done.done():
                    done.set_result(None)

        stop = target.events.listen(listener)
        start = time.perf_counter()
        target.modem.set_powered(True)
        try:
            await asyncio.wait_for(done, TIMEOUT * 5)
        finally:
            stop()
        drains.append(time.perf_counter() - start)
        await settle(bus)  # the senders' status reports
        close(bus, handsets)
    memory = await traced_memory(root / "saf-memory", profiles, total, senders)
    return {
        "sms": total, "senders": senders, "profile": "full",
        "smsc_default_cap_per_recipient": MAX_QUEUED_PER_RECIPIENT,
        "accepted_with_the_default_cap": default_cap_accepted,
        "cap_used": max(total, MAX_QUEUED_PER_RECIPIENT),
        "queue_seconds": spread(queue_s, 2),
        "drain_seconds": spread(drains, 2),
        "drained_sms_per_second": spread([total / d for d in drains], 1),
        "smsc_db_bytes_with_them_queued": spread(sizes, 0),  # after a WAL checkpoint
        "smsc_db_bytes_per_sms": spread([s / total for s in sizes], 1),
        "smsc_wal_bytes_before_checkpoint": spread(wals, 0),
        **memory,
    }


async def default_cap(bus: Bus, senders: list[Handset], target: Handset, total: int) -> int:
    """How many of ``total`` SMS for a switched-off phone the SMSC accepts with its default cap
    (then the queue is emptied again by switching the phone on)."""
    target.modem.set_powered(False)
    await asyncio.sleep(0.05)
    before = bus.sms.stats.submitted
    await queue_for(bus, senders, target, total)
    accepted = bus.sms.stats.submitted - before
    target.modem.set_powered(True)
    await settle(bus)
    return accepted


async def traced_memory(root: Path, profiles: dict, total: int, senders: int) -> dict:  # noqa: ANN001
    bus, handsets = await build(root, senders + 1, "full", profiles, 99)
    target, others = handsets[0], handsets[1:]
    bus.sms.smsc.max_per_recipient = max(total, MAX_QUEUED_PER_RECIPIENT)
    target.modem.set_powered(False)
    await asyncio.sleep(0.05)
    gc.collect()
    tracemalloc.start(1)
    before = tracemalloc.take_snapshot()
    await queue_for(bus, others, target, total)
    await asyncio.sleep(0.1)
    gc.collect()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    carrier_files = ("*/phone_tui/modem/smsc.py", "*/phone_tui/modem/sms_service.py",
                     "*/phone_tui/modem/sms.py", "*/phone_tui/modem/sms_pdu.py",
                     "*/phone_tui/modem/carrier.py")
    filters = [tracemalloc.Filter(True, pattern) for pattern in carrier_files]
    carrier = sum(stat.size_diff for stat in
                  after.filter_traces(filters).compare_to(before.filter_traces(filters),
                                                          "filename"))
    process = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    queued = bus.sms.smsc.queued(digits(target.number))
    close(bus, handsets)  # nothing is in flight: the phone they wait for is off
    return {"carrier_traced_kib_with_them_queued": round(carrier / 1024),
            "carrier_traced_bytes_per_queued_sms": round(carrier / max(1, queued)),
            "process_traced_kib_while_queueing": round(process / 1024),
            "traced_as": "tracemalloc (1 frame) before and after queueing, the allocations made "
                         "in modem/smsc.py, sms_service.py, sms.py, sms_pdu.py and carrier.py"}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, help="rounds (default 5; 2 with --quick)")
    parser.add_argument("--samples", type=int,
                        help="messages per kind and path per round (default 15; 3 with --quick)")
    parser.add_argument("--phones", type=int, help="phones for throughput (default 30; 4 quick)")
    parser.add_argument("--messages", type=int,
                        help="messages per throughput run (default 600; 40 with --quick)")
    parser.add_argument("--window", type=int, default=2, help="in flight per phone (default 2)")
    parser.add_argument("--queued", type=int,
                        help="SMS for the switched-off phone (default 2000; 60 with --quick)")
    parser.add_argument("--folder", type=Path, help="where the data folders go (default: temp)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: small and short")
    args = parser.parse_args()
    quick = args.quick
    rounds = args.rounds or (2 if quick else 5)
    samples = args.samples or (3 if quick else 15)
    phones = args.phones or (4 if quick else 30)
    messages = args.messages or (40 if quick else 600)
    queued = args.queued or (60 if quick else 2000)
    for kind, (text, parts, encoding) in KINDS.items():
        cut = segments(text, 0)
        assert len(cut) == parts and cut[0].encoding is encoding, kind
    profiles = load_profiles()
    started = time.perf_counter()

    with tempfile.TemporaryDirectory(dir=args.folder) as folder:
        root = Path(folder).resolve()
        bus, (a, b) = await build(root / "latency", 2, "lte", profiles, 1)
        await one_latency(a, b, "e2e", SHORT)  # the session (X3DH) starts outside the rounds
        await one_latency(a, b, "sms", SHORT)
        gc.collect()
        lat = await latency(a, b, samples, rounds)
        smsc_written = (bus.folder / SMSC_FILE).exists()
        await settle(bus)
        close(bus, [a, b])

        bus, handsets = await build(root / "throughput", phones, "full", profiles, 2)
        thr = await throughput(bus, handsets, messages, args.window, rounds)
        close(bus, handsets)

        saf = await store_and_forward(root, profiles, queued, rounds, senders=10 if not quick
                                      else 3)

    print(json.dumps({
        "benchmark": "plain SMS (send_sms to the text in the other phone's store, through the "
                     "carrier's SMS service and SMSC, smsc.db on disk) beside E2E messages "
                     "(messenger) on the same phones and network; real asyncio loop and clock",
        "rounds": rounds,
        "set_up": "Open OS handsets (SMS and messenger), unlocked, SQLCipher stores on disk; "
                  "PIN KDF: test Argon2id parameters, set-up only; sessions (X3DH) started "
                  "before the rounds",
        "carrier_folder_smsc_db_written": smsc_written,
        "latency_lte": {"samples_per_round": samples,
                        "measured_as": "send_sms → TextReceived on the recipient (its store); "
                                       "send_text → MessageReceived; one at a time, the next "
                                       "once the last was 'delivered' at the sender",
                        **lat},
        "throughput_full": thr,
        "store_and_forward": saf,
        "cpu_count": os.cpu_count(),
        "seconds": round(time.perf_counter() - started, 1),
    }, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
