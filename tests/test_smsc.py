"""The SMS centre: store-and-forward in order, retries, validity, status reports, caps, and a
queue that survives a restart of the carrier."""

from __future__ import annotations

import os
import sqlite3
import stat

import pytest

from phone_tui.errors import CarrierStateError
from phone_tui.modem.sms import ReassemblyBuffer, SmsPart, segments
from phone_tui.modem.smsc import (
    ACK_TIMEOUT,
    DEFAULT_VALIDITY,
    MAX_REPORTS_PER_NUMBER,
    MAX_VALIDITY,
    RETRY_FIRST,
    RETRY_MAX,
    SMSC_FILE,
    ReportStatus,
    Smsc,
    SmscFile,
    check_smsc_file,
    open_smsc,
)

T0 = 1_800_000_000.0


def deliver_all(smsc: Smsc, now: float, rounds: int = 1000) -> list:
    """Everything the SMSC sends at ``now``, each acknowledged at once."""
    out = []
    for _ in range(rounds):
        batch = smsc.poll(now)
        if not batch:
            return out
        for delivery in batch:
            out.append(delivery)
            smsc.delivered(now, delivery.id)
    raise AssertionError("the SMSC kept sending")


def texts(deliveries, to: str) -> list[str]:
    return [d.part.text for d in deliveries if d.to == to and d.part is not None]


def reports(deliveries, to: str):
    return [d.report for d in deliveries if d.to == to and d.report is not None]


def test_a_message_waits_while_the_recipient_is_absent_and_comes_in_order_on_attach():
    smsc = Smsc()
    for i, text in enumerate(["one", "two", "three"]):
        assert smsc.submit(T0 + i, "+1", "+2", text, i).accepted
    assert smsc.poll(T0 + 10) == []
    assert smsc.queued("+2") == 3
    smsc.set_reachable(T0 + 20, "+2", True)
    # One at a time a number: the second goes only once the first is acknowledged.
    [first] = smsc.poll(T0 + 20)
    assert first.part.text == "one" and first.sender == "+1" and first.attempt == 1
    assert smsc.poll(T0 + 20) == []
    smsc.delivered(T0 + 20, first.id)
    assert texts(deliver_all(smsc, T0 + 21), "+2") == ["two", "three"]
    assert smsc.queued("+2") == 0 and smsc.next_wakeup() is None


def test_a_concatenated_text_is_forwarded_as_parts_that_the_phone_puts_together():
    smsc = Smsc()
    text = "Meet at the north gate at 0600. " * 12
    result = smsc.submit(T0, "+1", "+2", text, 7)
    assert result.accepted and result.parts == 3 and result.text == text
    smsc.set_reachable(T0, "+2", True)
    sent = deliver_all(smsc, T0)
    assert [d.part.concat.sequence for d in sent] == [1, 2, 3]
    buffer = ReassemblyBuffer()
    out = [buffer.add(T0, d.sender, SmsPart.from_wire(d.part.encoding, d.part.udl,
                                                      d.part.user_data, True)) for d in sent]
    assert out == [None, None, text]


def test_parts_cut_by_the_phone_are_accepted_in_any_order_and_sent_in_order():
    smsc = Smsc()
    parts = segments("ж" * 150, reference=9)
    assert smsc.submit(T0, "+1", "+2", list(reversed(parts)), 9).accepted
    smsc.set_reachable(T0, "+2", True)
    assert "".join(texts(deliver_all(smsc, T0), "+2")) == "ж" * 150


@pytest.mark.parametrize(("kwargs", "says"), [
    ({"sender": "alice"}, "phone number"),
    ({"recipient": "+" + "1" * 21}, "phone number"),
    ({"message_ref": 256}, "0–255"),
    ({"message_ref": -1}, "0–255"),
    ({"validity": 0}, "positive"),
    ({"validity": float("nan")}, "positive"),
    ({"message": "a" * 153 * 256}, "at most 255"),
    ({"message": ["not a part"]}, "not SMS parts"),
    ({"message": segments("a" * 400)[:2]}, "2 of 3"),
    ({"message": segments("a" * 400)[:1] * 3}, "twice"),
])
def test_a_bad_submission_is_rejected_with_a_reason_and_nothing_is_stored(kwargs, says):
    smsc = Smsc()
    args = {"sender": "+1", "recipient": "+2", "message": "hi", "message_ref": 0} | kwargs
    validity = args.pop("validity", DEFAULT_VALIDITY)
    result = smsc.submit(T0, args["sender"], args["recipient"], args["message"],
                         args["message_ref"], validity=validity)
    assert not result.accepted and says in result.reason
    assert smsc.queued_parts == 0


def test_a_failed_delivery_is_retried_with_a_doubling_backoff_up_to_its_cap():
    smsc = Smsc()
    smsc.submit(T0, "+1", "+2", "hi", 0, validity=MAX_VALIDITY)
    smsc.set_reachable(T0, "+2", True)
    now, gaps = T0, []
    for _ in range(10):
        [delivery] = smsc.poll(now)
        smsc.failed(now, delivery.id)
        assert smsc.poll(now) == []
        wake = smsc.next_wakeup()
        gaps.append(wake - now)
        now = wake
    assert gaps[:4] == [RETRY_FIRST, 2 * RETRY_FIRST, 4 * RETRY_FIRST, 8 * RETRY_FIRST]
    assert max(gaps) == RETRY_MAX
    [delivery] = smsc.poll(now)
    assert delivery.attempt == 11


def test_a_delivery_with_no_answer_counts_as_failed_after_the_ack_timeout():
    smsc = Smsc()
    smsc.submit(T0, "+1", "+2", "hi", 0)
    smsc.set_reachable(T0, "+2", True)
    [first] = smsc.poll(T0)
    assert smsc.poll(T0 + ACK_TIMEOUT - 1) == []
    assert smsc.poll(T0 + ACK_TIMEOUT) == []  # timed out: the retry waits its backoff
    [again] = smsc.poll(T0 + ACK_TIMEOUT + RETRY_FIRST)
    assert again.id == first.id and again.attempt == 2
    smsc.delivered(T0 + ACK_TIMEOUT, first.id)  # a late ack of the first attempt is the same part
    assert smsc.queued("+2") == 0


def test_a_detach_stops_attempts_and_an_attach_tries_at_once():
    smsc = Smsc()
    smsc.submit(T0, "+1", "+2", "hi", 0)
    smsc.set_reachable(T0, "+2", True)
    [delivery] = smsc.poll(T0)
    smsc.failed(T0, delivery.id)
    smsc.set_reachable(T0 + 1, "+2", False)
    assert smsc.poll(T0 + 3600) == []
    smsc.set_reachable(T0 + 3601, "+2", True)
    assert len(smsc.poll(T0 + 3601)) == 1


def test_a_delivered_message_sends_the_sender_a_status_report_when_asked():
    smsc = Smsc()
    smsc.submit(T0, "+1", "+2", "x" * 300, 42, status_report=True)
    smsc.submit(T0, "+1", "+2", "no report", 43)
    smsc.set_reachable(T0, "+2", True)
    sent = deliver_all(smsc, T0 + 5)
    assert reports(sent, "+1") == []  # the sender is away: its report waits for it
    smsc.set_reachable(T0 + 9, "+1", True)
    [report] = reports(deliver_all(smsc, T0 + 9), "+1")
    assert (report.message_ref, report.recipient, report.status) == (
        42, "+2", ReportStatus.DELIVERED)
    assert report.at == T0 + 5  # one report, after the last part


def test_a_message_expires_at_its_validity_and_the_sender_hears_so():
    smsc = Smsc()
    smsc.submit(T0, "+1", "+2", "x" * 300, 1, validity=3600, status_report=True)
    smsc.submit(T0, "+1", "+2", "later", 2, validity=7200)
    smsc.set_reachable(T0, "+1", True)
    assert deliver_all(smsc, T0 + 3599) == []
    assert smsc.next_wakeup() == T0 + 3600
    sent = deliver_all(smsc, T0 + 3600)
    [report] = reports(sent, "+1")
    assert report.status is ReportStatus.EXPIRED and report.at == T0 + 3600
    assert smsc.queued("+2") == 1
    smsc.set_reachable(T0 + 3700, "+2", True)
    assert texts(deliver_all(smsc, T0 + 3700), "+2") == ["later"]


def test_validity_is_bounded_to_a_week():
    smsc = Smsc()
    smsc.submit(T0, "+1", "+2", "hi", 1, validity=10 * 365 * 86400)
    assert smsc.next_wakeup() == T0 + MAX_VALIDITY


def test_the_queues_are_capped_per_recipient_and_in_total():
    smsc = Smsc(max_per_recipient=5, max_total=8)
    assert smsc.submit(T0, "+1", "+2", "a" * 600, 0).accepted  # 4 parts
    assert smsc.submit(T0, "+1", "+2", "b", 1).accepted
    result = smsc.submit(T0, "+1", "+2", "c", 2)
    assert not result.accepted and "full" in result.reason
    assert smsc.submit(T0, "+1", "+3", "a" * 400, 3).accepted  # 3 parts: 8 in all
    result = smsc.submit(T0, "+1", "+4", "d", 4)
    assert not result.accepted and "centre is full" in result.reason
    assert smsc.queued_parts == 8


def test_one_sender_has_at_most_its_share_of_parts_waiting_and_others_still_get_in(tmp_path):
    smsc = open_smsc(tmp_path / "network")
    smsc.max_per_sender = 6
    assert smsc.submit(T0, "+6", "+2", "a" * 600, 0).accepted  # 4 parts
    assert smsc.submit(T0, "+6", "+3", "a" * 300, 1).accepted  # 2 more: its 6
    result = smsc.submit(T0, "+6", "+4", "b", 2)
    assert not result.accepted and "sender's texts" in result.reason
    assert smsc.submit(T0, "+1", "+2", "meet at 8?", 7).accepted  # another sender's room
    smsc.store.close()
    again = open_smsc(tmp_path / "network")  # counted again after a restart
    again.max_per_sender = 6
    assert not again.submit(T0, "+6", "+4", "b", 2).accepted
    again.set_reachable(T0, "+3", True)
    deliver_all(again, T0)  # two of its parts went: room for two
    assert again.submit(T0, "+6", "+4", "b", 3).accepted
    again.store.close()


def test_a_delivery_refused_for_good_drops_its_whole_message_and_reports_failed():
    smsc = Smsc()
    smsc.submit(T0, "+1", "+2", "x" * 400, 9, status_report=True)  # 3 parts
    smsc.submit(T0, "+1", "+2", "next", 10)
    smsc.set_reachable(T0, "+2", True)
    [first] = smsc.poll(T0)
    assert smsc.refused(T0, first.id)
    assert smsc.queued("+2") == 1 and smsc.queued_parts == 1  # only the next message left
    smsc.set_reachable(T0, "+1", True)
    sent = deliver_all(smsc, T0)
    assert texts(sent, "+2") == ["next"]
    [report] = reports(sent, "+1")
    assert (report.message_ref, report.status) == (9, ReportStatus.FAILED)
    assert not smsc.refused(T0, first.id)  # settled already


def test_status_reports_for_one_sender_are_bounded():
    smsc = Smsc()
    smsc.set_reachable(T0, "+2", True)
    for i in range(MAX_REPORTS_PER_NUMBER + 20):
        smsc.submit(T0, "+1", "+2", "hi", i % 256, status_report=True)
        deliver_all(smsc, T0)
    assert smsc.queued("+1") == MAX_REPORTS_PER_NUMBER
    assert smsc.reports_dropped == 20


def test_a_text_to_oneself_that_expires_reports_to_oneself():
    smsc = Smsc()
    smsc.submit(T0, "+1", "+1", "hi", 5, validity=600, status_report=True)
    smsc.poll(T0 + 600)
    smsc.set_reachable(T0 + 601, "+1", True)
    [report] = reports(deliver_all(smsc, T0 + 601), "+1")
    assert report.status is ReportStatus.EXPIRED


# -- the file -------------------------------------------------------------------------------------

def test_the_queue_survives_a_restart_of_the_carrier(tmp_path):
    folder = tmp_path / "network"
    smsc = open_smsc(folder)
    smsc.submit(T0, "+1", "+2", "first " * 40, 1, status_report=True, validity=3600)
    smsc.submit(T0, "+1", "+2", "second", 2, validity=7200)
    smsc.set_reachable(T0, "+2", True)
    [delivery] = smsc.poll(T0)
    smsc.failed(T0, delivery.id)
    smsc.store.close()
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(folder / SMSC_FILE).st_mode) == 0o600

    # A new carrier process: new objects over the same folder.
    again = open_smsc(folder)
    assert again.queued("+2") == 3 and again.queued_parts == 3
    again.set_reachable(T0 + 10, "+2", True)
    sent = deliver_all(again, T0 + 10)
    assert sent[0].attempt == 2  # the failed attempt was kept
    assert "".join(texts(sent, "+2")) == "first " * 40 + "second"
    again.store.close()

    third = open_smsc(folder)
    assert third.queued("+2") == 0 and third.queued("+1") == 1  # the report waits for +1
    third.set_reachable(T0 + 20, "+1", True)
    [report] = reports(deliver_all(third, T0 + 20), "+1")
    assert (report.message_ref, report.status, report.at) == (1, ReportStatus.DELIVERED, T0 + 10)
    # New submissions after a restart get fresh ids (no clash with the rows on disk).
    assert third.submit(T0 + 30, "+1", "+2", "new", 3).message_id > delivery.id
    third.store.close()


def test_validity_counts_in_wall_clock_time_across_a_restart(tmp_path):
    smsc = open_smsc(tmp_path)
    smsc.submit(T0, "+1", "+2", "hi", 1, validity=86400, status_report=True)
    smsc.store.close()
    again = open_smsc(tmp_path)  # down 25 hours
    again.set_reachable(T0 + 90000, "+1", True)
    [report] = reports(deliver_all(again, T0 + 90000), "+1")
    assert report.status is ReportStatus.EXPIRED and report.at == T0 + 86400
    again.store.close()


def _damage_row(path, sql: str) -> None:
    db = sqlite3.connect(path)
    db.execute(sql)
    db.commit()
    db.close()


@pytest.mark.parametrize("sql", [
    "UPDATE queue SET number = 'alice'",
    "UPDATE queue SET expires = 'soon'",
    "UPDATE queue SET data = x'ff'",
    "UPDATE queue SET kind = 'other'",
    "UPDATE queue SET ref = 300",
    "PRAGMA user_version = 9",
    "ALTER TABLE queue ADD COLUMN extra TEXT",
])
def test_a_damaged_queue_is_refused_naming_the_file_and_left_untouched(tmp_path, sql):
    smsc = open_smsc(tmp_path)
    smsc.submit(T0, "+1", "+2", "hi", 1)
    smsc.store.close()
    path = tmp_path / SMSC_FILE
    _damage_row(path, sql)
    before = path.read_bytes()
    with pytest.raises(CarrierStateError) as caught:
        open_smsc(tmp_path)
    assert str(caught.value).startswith(str(path)) and "left untouched" in str(caught.value)
    with pytest.raises(CarrierStateError):
        check_smsc_file(path)
    assert path.read_bytes() == before


def test_a_file_that_is_not_a_database_is_refused_and_kept(tmp_path):
    path = tmp_path / SMSC_FILE
    path.write_text("not sqlite at all")
    with pytest.raises(CarrierStateError, match="smsc.db"):
        SmscFile(path)
    assert path.read_text() == "not sqlite at all"


def test_checking_a_missing_file_makes_none(tmp_path):
    check_smsc_file(tmp_path / SMSC_FILE)
    assert not (tmp_path / SMSC_FILE).exists()


def test_a_long_flood_of_delivered_texts_leaves_no_bookkeeping_behind():
    """Each accepted message notes its expiry; what went is swept out, so memory follows what
    is queued, not what passed through."""
    smsc = Smsc()
    smsc.set_reachable(T0, "+2", True)
    smsc.submit(T0, "+1", "+3", "waits for +3", 0)  # one stays queued throughout
    for i in range(5000):
        assert smsc.submit(T0 + i, "+1", "+2", "hi", i % 256).accepted
        deliver_all(smsc, T0 + i)
    assert smsc.queued_parts == 1
    assert len(smsc._expiries) <= 2 * 2 + 64 + 1
    assert smsc.next_wakeup() is not None


def test_a_locked_file_rejects_a_submission_and_keeps_other_changes_for_the_next_write(tmp_path):
    """A submission the file cannot take is refused ("try again"), never accepted and lost; an
    acknowledged delivery the file could not note is written at the next poll, so a restart
    does not send it again."""
    smsc = open_smsc(tmp_path)
    assert smsc.submit(T0, "+1", "+2", "first", 1, status_report=True).accepted
    other = sqlite3.connect(tmp_path / SMSC_FILE, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process holds the file
    result = smsc.submit(T0, "+1", "+2", "second", 2)
    assert not result.accepted and "try again" in result.reason
    assert smsc.queued("+2") == 1
    smsc.set_reachable(T0, "+2", True)
    [delivery] = smsc.poll(T0)
    smsc.delivered(T0, delivery.id)
    assert smsc.unsaved and smsc.save_failures == 2
    other.execute("ROLLBACK")
    other.close()
    assert smsc.poll(T0 + 1) == [] and not smsc.unsaved
    smsc.store.close()
    again = open_smsc(tmp_path)
    assert again.queued("+2") == 0 and again.queued("+1") == 1  # only the report waits
    again.store.close()
