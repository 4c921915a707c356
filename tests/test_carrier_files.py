"""The carrier's SQLite files (modem/carrier_file.py: mailbox.db, smsc.db, which holds plain
SMS texts): never through a link, only the user's own regular file, never readable by others;
each refusal one line naming the file, what it found left as it was."""

from __future__ import annotations

import hashlib
import os
import stat

import pytest

from phone_tui.errors import CarrierStateError
from phone_tui.modem.mailbox import MAILBOX_FILE, MailboxFile
from phone_tui.modem.smsc import SMSC_FILE, SmscFile

FILES = [pytest.param(MailboxFile, MAILBOX_FILE, id="mailbox"),
         pytest.param(SmscFile, SMSC_FILE, id="smsc")]


def _folder(tmp_path):
    folder = tmp_path / "carrier"
    folder.mkdir(mode=0o700)
    return folder


def _refused(kind, path, *words: str) -> str:
    with pytest.raises(CarrierStateError) as caught:
        kind(path)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(f"{path}: ")
    assert "damaged" not in message  # it is not: it is not the carrier's file
    for word in words:
        assert word in message
    return message


@pytest.mark.parametrize(("kind", "name"), FILES)
def test_a_link_to_a_file_is_refused_as_a_link_and_its_target_left_alone(tmp_path, kind, name):
    folder = _folder(tmp_path)
    target = tmp_path / "victim.txt"
    target.write_text("precious\n")
    (folder / name).symlink_to(target)
    _refused(kind, folder / name, "symbolic link")
    assert target.read_text() == "precious\n" and (folder / name).is_symlink()


@pytest.mark.parametrize(("kind", "name"), FILES)
def test_a_dangling_link_is_refused_and_nothing_made_at_its_target(tmp_path, kind, name):
    folder = _folder(tmp_path)
    (folder / name).symlink_to(tmp_path / "nowhere.db")
    _refused(kind, folder / name, "symbolic link")
    assert not (tmp_path / "nowhere.db").exists()
    assert sorted(os.listdir(folder)) == [name]


@pytest.mark.parametrize(("kind", "name"), FILES)
def test_a_fifo_or_folder_is_refused_without_opening_it(tmp_path, kind, name):
    folder = _folder(tmp_path)
    os.mkfifo(folder / name)  # opening it would wait for a writer
    _refused(kind, folder / name, "not a regular file")
    (folder / name).unlink()
    (folder / name).mkdir()
    _refused(kind, folder / name, "not a regular file")


@pytest.mark.parametrize(("kind", "name"), FILES)
def test_a_file_of_another_user_is_refused_and_left_as_it_is(tmp_path, kind, name,
                                                             monkeypatch):
    folder = _folder(tmp_path)
    kind(folder / name).close()
    os.chmod(folder / name, 0o644)
    before = hashlib.sha256((folder / name).read_bytes()).digest()
    real = os.getuid()
    monkeypatch.setattr(os, "getuid", lambda: real + 1)  # the file is now someone else's
    _refused(kind, folder / name, "another user", f"uid {real}")
    assert stat.S_IMODE((folder / name).stat().st_mode) == 0o644
    assert hashlib.sha256((folder / name).read_bytes()).digest() == before


@pytest.mark.parametrize(("kind", "name"), FILES)
def test_a_file_of_ours_others_may_read_is_made_0600_and_opened(tmp_path, kind, name):
    folder = _folder(tmp_path)
    kind(folder / name).close()
    os.chmod(folder / name, 0o644)
    kind(folder / name).close()
    assert stat.S_IMODE((folder / name).stat().st_mode) == 0o600


@pytest.mark.parametrize(("kind", "name"), FILES)
def test_a_readable_file_that_cannot_be_made_0600_is_refused(tmp_path, kind, name,
                                                             monkeypatch):
    folder = _folder(tmp_path)
    kind(folder / name).close()
    os.chmod(folder / name, 0o640)

    def refuse(*_args, **_kwargs):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "chmod", refuse)
    _refused(kind, folder / name, "mode 0640", "could not be made 0600")


@pytest.mark.parametrize(("kind", "name"), FILES)
def test_a_new_file_is_made_0600_and_a_good_one_reopened(tmp_path, kind, name):
    folder = _folder(tmp_path)
    kind(folder / name).close()
    assert stat.S_IMODE((folder / name).stat().st_mode) == 0o600
    kind(folder / name).close()


def test_the_start_up_check_refuses_a_dangling_smsc_link_and_makes_nothing(tmp_path):
    from phone_tui.modem.smsc import check_smsc_file

    target = tmp_path / "elsewhere.db"
    (tmp_path / SMSC_FILE).symlink_to(target)
    with pytest.raises(CarrierStateError) as caught:
        check_smsc_file(tmp_path / SMSC_FILE)
    assert SMSC_FILE in str(caught.value) and "\n" not in str(caught.value)
    assert not target.exists()


def test_the_start_up_check_refuses_a_dangling_mailbox_link_and_makes_nothing(tmp_path):
    from phone_tui.modem.mailbox import load_mailboxes

    target = tmp_path / "elsewhere.db"
    (tmp_path / MAILBOX_FILE).symlink_to(target)
    with pytest.raises(CarrierStateError):
        load_mailboxes(tmp_path / MAILBOX_FILE)
    assert not target.exists()
