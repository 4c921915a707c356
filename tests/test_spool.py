"""The locked persona's spool: typed entries, replay entry by entry, bad ones set aside."""

from __future__ import annotations

import asyncio
import json
import os
import stat

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from phone_tui.handset.spool import (
    ReplayHalted,
    Spool,
    SpooledEnvelope,
    SpooledState,
    SpoolError,
    SpoolFull,
    parse_record,
)

MSG_ID = "ab" * 16


def test_entries_parse_into_typed_records():
    assert parse_record(b'{"kind": "envelope", "data": "0102"}') == SpooledEnvelope(b"\x01\x02")
    assert parse_record(json.dumps({"kind": "state", "msg_id": MSG_ID, "state": "delivered",
                                    "reason": ""}).encode()) == SpooledState(
        bytes.fromhex(MSG_ID), "delivered", "")
    assert parse_record(json.dumps({"kind": "state", "msg_id": MSG_ID,
                                    "state": "failed"}).encode()).reason == ""


@pytest.mark.parametrize(("line", "reason"), [
    (b"{not json", "not JSON"),
    (b"\xff\xfe", "not JSON"),
    (b"[1]", "not an object"),
    (b"null", "not an object"),
    (b"[" * 20_000 + b"]" * 20_000, "nested too deeply"),
    (b'{"kind": "envelope", "data": NaN}', "NaN"),
    (b'{"kind": "envelope"}', "key 'data' is missing"),
    (b'{"kind": "envelope", "data": 5}', "key 'data'"),
    (b'{"kind": "envelope", "data": "abc"}', "key 'data'"),
    (b'{"kind": "envelope", "data": "zz"}', "key 'data'"),
    (b'{"kind": "envelope", "data": "AB"}', "key 'data'"),
    (b'{"kind": "envelope", "data": "' + b"00" * 70_000 + b'"}', "key 'data'"),
    (b'{"kind": "envelope", "data": "00", "more": 1}', "unknown keys"),
    (b'{"kind": "state", "msg_id": "00", "state": "sent"}', "16 bytes"),
    (b'{"kind": "state", "msg_id": "' + MSG_ID.encode() + b'", "state": "read"}', "state"),
    (b'{"kind": "state", "msg_id": "' + MSG_ID.encode() + b'", "state": 1}', "state"),
    (b'{"kind": "state", "msg_id": "' + MSG_ID.encode() + b'", "state": "sent", "reason": 5}',
     "reason"),
    (b'{"kind": "state", "state": "sent"}', "msg_id"),
    (b'{"kind": "lunch"}', "kind"),
    (b'{"data": "00"}', "kind"),
])
def test_a_line_of_the_wrong_shape_is_refused_by_key(line, reason):
    with pytest.raises(SpoolError, match=reason):
        parse_record(line)


def test_replay_hands_every_entry_over_in_order_then_removes_the_spool(tmp_path):
    spool = Spool(tmp_path / "spool.jsonl")
    for i in range(5):
        spool.append("envelope", data=bytes([i]).hex())
    assert stat.S_IMODE(spool.path.stat().st_mode) == 0o600
    seen = []
    outcome = spool.replay(seen.append)
    assert seen == [SpooledEnvelope(bytes([i])) for i in range(5)]
    assert (outcome.handled, outcome.rejected) == (5, 0)
    assert not spool.path.exists() and not spool.rejected_path.exists()
    assert spool.replay(seen.append).handled == 0  # nothing twice


def test_an_entry_whose_handler_raises_is_set_aside_and_the_rest_still_replay(tmp_path):
    spool = Spool(tmp_path / "spool.jsonl")
    for i in range(4):
        spool.append("envelope", data=bytes([i]).hex())
    lines = spool.path.read_bytes().splitlines(keepends=True)
    seen = []

    def handle(record):
        if record.data == b"\x01":
            raise RecursionError("a handler that breaks")
        seen.append(record.data)

    outcome = spool.replay(handle)
    assert seen == [b"\x00", b"\x02", b"\x03"]
    assert (outcome.handled, outcome.rejected) == (3, 1)
    assert not spool.path.exists()
    assert spool.rejected_path.read_bytes() == lines[1]
    assert stat.S_IMODE(spool.rejected_path.stat().st_mode) == 0o600


def test_a_torn_last_line_is_set_aside_not_dropped(tmp_path):
    spool = Spool(tmp_path / "spool.jsonl")
    spool.append("envelope", data="00")
    with open(spool.path, "ab") as handle:
        handle.write(b'{"kind": "envel')
    assert spool.replay(lambda _record: None).rejected == 1
    assert spool.rejected_path.read_bytes() == b'{"kind": "envel\n'


def test_an_interrupted_replay_removes_nothing_and_sets_nothing_aside_twice(tmp_path):
    spool = Spool(tmp_path / "spool.jsonl")
    spool.append("envelope", data="00")
    with open(spool.path, "ab") as handle:
        handle.write(b"garbage\n")
    spool.append("envelope", data="01")
    before = spool.path.read_bytes()

    def interrupted(record):
        if record.data == b"\x01":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        spool.replay(interrupted)
    assert spool.path.read_bytes() == before  # the next unlock replays all of it
    spool.replay(lambda _record: None)
    spool.replay(lambda _record: None)
    assert spool.rejected_path.read_bytes() == b"garbage\n"


def test_entries_appended_during_a_replay_stay_for_the_next(tmp_path):
    spool = Spool(tmp_path / "spool.jsonl")
    spool.append("envelope", data="00")

    def handle(_record):
        spool.append("envelope", data="ff")

    spool.replay(handle)
    assert [parse_record(line) for line in spool.path.read_bytes().splitlines()] == [
        SpooledEnvelope(b"\xff")]


@settings(max_examples=100, deadline=None)
@given(lines=st.lists(st.binary(max_size=60).filter(lambda b: b"\n" not in b), max_size=8))
def test_any_spool_file_replays_without_raising_and_loses_no_line(tmp_path_factory, lines):
    folder = tmp_path_factory.mktemp("spool")
    spool = Spool(folder / "spool.jsonl")
    spool.path.write_bytes(b"".join(line + b"\n" for line in lines))
    handled = []
    outcome = spool.replay(handled.append)
    kept = spool.rejected_path.read_bytes().split(b"\n") if spool.rejected_path.exists() else []
    assert outcome.handled == len(handled)
    assert set(kept) | {line for line in lines if not line.strip()} >= {
        line for line in lines if line.strip() and _unparsable(line)}
    assert not spool.path.exists()


def _unparsable(line: bytes) -> bool:
    try:
        parse_record(line)
    except SpoolError:
        return True
    return False


def test_an_unreadable_spool_is_left_untouched(tmp_path):
    spool = Spool(tmp_path / "spool.jsonl")
    spool.path.mkdir()  # EISDIR: as good as any read error
    assert spool.replay(lambda _record: None).handled == 0
    assert spool.path.is_dir()


def test_when_entries_cannot_be_set_aside_the_spool_is_kept_whole(tmp_path, monkeypatch):
    spool = Spool(tmp_path / "spool.jsonl")
    spool.append("envelope", data="00")
    with open(spool.path, "ab") as handle:
        handle.write(b"garbage\n")
    before = spool.path.read_bytes()
    real_open = os.open

    def full_disk(path, *args, **kwargs):
        if str(path).endswith("spool.rejected.jsonl"):
            raise OSError(28, "No space left on device")
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", full_disk)
    outcome = spool.replay(lambda _record: None)
    assert (outcome.handled, outcome.rejected) == (1, 1)
    assert spool.path.read_bytes() == before


def test_past_its_cap_the_spool_refuses_and_writes_nothing(tmp_path):
    spool = Spool(tmp_path / "spool.jsonl", max_entries=3, max_bytes=1000)
    for _ in range(3):
        spool.append("envelope", data="00")
    before = spool.path.read_bytes()
    with pytest.raises(SpoolFull, match="spool is full"):
        spool.append("envelope", data="00")
    assert spool.path.read_bytes() == before
    # A fresh object (another unlock) counts the file again.
    with pytest.raises(SpoolFull):
        Spool(spool.path, max_entries=3).append("envelope", data="00")
    spool.replay(lambda _record: None)
    spool.append("envelope", data="00")  # room again once replayed
    big = Spool(tmp_path / "big.jsonl", max_bytes=200)
    with pytest.raises(SpoolFull):
        big.append("envelope", data="00" * 100)
    assert not big.path.exists()


def test_a_handler_that_halts_keeps_its_entry_and_the_rest_in_order(tmp_path):
    spool = Spool(tmp_path / "spool.jsonl")
    for data in ("01", "02", "03"):
        spool.append("envelope", data=data)
    lines = spool.path.read_bytes().splitlines(keepends=True)
    seen = []

    def handle(record):
        if record.data == b"\x02":
            raise ReplayHalted from OSError(28, "No space left on device")
        seen.append(record.data)

    outcome = spool.replay(handle)
    assert outcome.halted and (outcome.handled, outcome.rejected) == (1, 0)
    assert seen == [b"\x01"]
    assert spool.path.read_bytes() == b"".join(lines[1:])
    assert not spool.rejected_path.exists()


async def test_an_async_replay_yields_between_slices_and_stops_writing_nothing(tmp_path):
    spool = Spool(tmp_path / "spool.jsonl")
    for index in range(10):
        spool.append("envelope", data=f"{index:02x}")
    before = spool.path.read_bytes()
    ticks = iter(range(1000))  # a timer where every entry takes one slice
    seen, went_on = [], []

    async def other_work():
        while True:
            went_on.append(len(seen))
            await asyncio.sleep(0)

    other = asyncio.get_running_loop().create_task(other_work())
    outcome = await spool.replay_async(seen.append, keep_going=lambda: len(seen) < 4,
                                       slice_seconds=1, timer=lambda: next(ticks))
    other.cancel()
    assert len(seen) == 4 and outcome.halted
    assert {1, 2, 3} <= set(went_on)  # the loop ran between the entries
    assert spool.path.read_bytes() == before  # stopped (locked): nothing written
    outcome = await spool.replay_async(seen.append)
    assert outcome.handled == 10 and not spool.path.exists()
