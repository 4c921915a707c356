"""The handset camps on cells; the fake base station relays its victim and reads it."""

from __future__ import annotations

import asyncio
import random

import pytest
from test_stage import make_stage, on_air

from phone_tui.core.config import load_settings
from phone_tui.errors import ConfigError
from phone_tui.handset.contacts import load_contacts
from phone_tui.handset.events import CellCamped, CellRefused
from phone_tui.modem.bus import Bus
from phone_tui.modem.cells import load_cells
from phone_tui.modem.frames import Envelope, EnvelopeKind, HopFrame, HopKind
from phone_tui.modem.profiles import load_profiles
from phone_tui.modem.rogue import AttackerTap, Relay


def test_bad_allow_2g_in_settings_is_one_line_naming_the_key(tmp_path):
    path = tmp_path / "settings.toml"
    path.write_text('allow_2g = "yes"\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert "allow_2g" in str(caught.value) and "\n" not in str(caught.value)
    assert path.read_text() == 'allow_2g = "yes"\n'


class _Recorder:
    def __init__(self) -> None:
        self.frames: list[bytes] = []

    def send(self, frame: bytes) -> None:
        self.frames.append(frame)

    def deliver(self, frame: bytes) -> None:
        self.frames.append(frame)

    def registration(self, in_service: bool) -> None: ...

    def restart_session(self) -> None: ...

    def opened(self, session: int) -> None: ...

    def closed(self) -> None: ...


def _data(kind: EnvelopeKind, body: bytes, msg_id: bytes = b"\1" * 16) -> bytes:
    envelope = Envelope(kind, msg_id, "+100", "+200", body).encode()
    return HopFrame(HopKind.DATA, 1, 1, envelope, 0, 0).encode()


def test_relay_passes_every_frame_unchanged_and_never_keeps_e2e_plaintext():
    cell = load_cells().fake["imsi-catcher"]
    up, phone, tap = _Recorder(), _Recorder(), AttackerTap()
    relay = Relay(cell, "+100", phone, up, tap, now=lambda: 0.0)
    secret = b"MEET AT THE NORTH GATE"
    frame = _data(EnvelopeKind.MESSAGE, b"\x00ciphertext:" + secret)
    relay.send(frame)
    relay.send(frame)  # a retransmission: recorded once
    relay.deliver(frame)
    relay.send(b"garbage")
    assert up.frames == [frame, frame, b"garbage"] and phone.frames == [frame]
    assert [(r.direction, r.what, r.text) for r in tap.recent] == [
        ("up", "e2e-message", "ciphertext"), ("down", "e2e-message", "ciphertext")]
    for record in tap.recent:
        assert all(secret.decode() not in str(value) for value in vars(record).values())
    relay.caught({"imsi": "460990000000001", "imei": "not-digits"})
    assert [(r.what, r.text) for r in tap.recent][-1] == ("imsi", "460990000000001")
    assert tap.recent[-1].what != "imei"


def _events(handset, kind):
    found = []
    handset.events.listen(lambda event: found.append(event) if isinstance(event, kind) else None)
    return found


@pytest.mark.looptime
async def test_open_os_camps_on_the_fake_cell_and_the_attacker_reads_identities_not_e2e(
        tmp_path):
    stage = make_stage(tmp_path)
    await stage.prepare()
    for handset in stage.handsets:
        handset.switch_persona("open")
    stage.attach(Bus(random.Random(3)), load_profiles(),
                 load_contacts())
    for handset, phone in zip(stage.handsets, stage.phones, strict=False):
        await handset.unlock(phone.open_pin)
    li, wang = stage.handsets
    network = stage.network
    assert li.camped.id == "lte-1" and network.intercept.cells[li.number] == "lte-1"
    camped = _events(li, CellCamped)
    assert stage.fake_cell(0) is True
    assert li.camped.id == "imsi-catcher" and camped[-1].rat == "2G" and camped[-1].null_cipher
    assert li.modem.profile.name == "edge"
    assert network.intercept.cells[li.number] == "lte-1"  # the relay passes it on there
    imsi, imei = li.identities["open"]
    assert [(r.what, r.text) for r in network.attacker.recent] == [("imsi", imsi),
                                                                   ("imei", imei)]
    li.messenger.send_text(wang.number, "SECRET-E2E-PLAINTEXT")
    await asyncio.sleep(10)
    assert [m.body for m in wang.messenger.history(li.number)] == ["SECRET-E2E-PLAINTEXT"]
    caught = [r for r in network.attacker.recent if r.what == "e2e-message"]
    assert caught and all(r.text == "ciphertext" for r in caught)
    assert all("SECRET" not in str(vars(r)) for r in network.attacker.recent)
    assert stage.fake_cell(0) is False
    assert li.camped.id == "lte-1" and li.modem.profile.name == "lte"
    assert li.modem.radio.uplink is network._line_of(li.modem)  # the relay came out
    before = len(network.attacker.recent)
    li.messenger.send_text(wang.number, "after")
    await asyncio.sleep(10)
    assert len(network.attacker.recent) == before


@pytest.mark.looptime
async def test_secure_os_refuses_the_fake_cell_and_says_why(tmp_path):
    stage = await on_air(make_stage(tmp_path))
    li = stage.handsets[0]
    refused = _events(li, CellRefused)
    stage.fake_cell(0, True)
    assert li.camped.id == "lte-1"
    texts = [event.text for event in refused]
    assert "Identity request (IMSI) from a cell \u2014 refused" in texts
    assert "A cell asked this phone to downgrade to 2G \u2014 refused" in texts
    assert "Unencrypted network \u2014 refused" in texts
    assert [e.text for e in li.network_log()] == texts
    assert not list(stage.network.attacker.recent)


@pytest.mark.looptime
async def test_open_os_with_allow_2g_off_refuses_the_fake_cell_after_a_restart(tmp_path):
    stage = make_stage(tmp_path)
    await stage.prepare()
    li = stage.handsets[0]
    li.switch_persona("open")
    li.remember(persona="open")
    li.set_allow_2g(False)
    again = make_stage(tmp_path)  # a restart: the setting is read back from settings.toml
    await again.prepare()
    assert again.handsets[0].settings.allow_2g is False
    again.attach(Bus(random.Random(3)), load_profiles(), [])
    li = again.handsets[0]
    li.switch_persona("open")
    refused = _events(li, CellRefused)
    again.fake_cell(0, True)
    assert li.camped.id == "lte-1"
    assert "downgrade_2g" in [event.kind for event in refused]
    li.set_allow_2g(True)
    assert li.camped.id == "imsi-catcher"


def test_relay_shows_a_plain_sms_text_and_a_plain_call_as_decodable():
    from phone_tui.modem.frames import PLAIN_HEADER, PT_PLAIN_VOICE, encode_voice
    from phone_tui.modem.sms import segments
    from phone_tui.modem.sms_pdu import SmsSubmit

    cell = load_cells().fake["imsi-catcher"]
    up, phone, tap = _Recorder(), _Recorder(), AttackerTap()
    relay = Relay(cell, "+100", phone, up, tap, now=lambda: 0.0)
    body = SmsSubmit(1, "+200", segments("Meet at noon")[0]).encode()
    relay.send(_data(EnvelopeKind.SMS, body))
    relay.send(_data(EnvelopeKind.SMS, b"\x01\xff", msg_id=b"\2" * 16))  # does not read
    plain = PLAIN_HEADER.pack(0x80, PT_PLAIN_VOICE, 1, 160, 7) + b"\0" * 20
    sealed = PLAIN_HEADER.pack(0x80, 96, 1, 160, 7) + b"\0" * 20
    relay.send(encode_voice("+200", plain))
    relay.deliver(encode_voice("+300", sealed))
    assert [(r.what, r.text) for r in tap.recent] == [
        ("sms", "Meet at noon"), ("sms", ""), ("call", "decodable"), ("e2e-call", "ciphertext")]
