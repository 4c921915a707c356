"""`phone-tui reset` deletes only what phone-tui made (issue 11, item 10)."""

from __future__ import annotations

import asyncio
import logging
import sys

from phone_tui.cli import main
from phone_tui.core.inventory import add_data_files, data_patterns, scan
from phone_tui.core.logs import setup_logging
from phone_tui.core.paths import resolve_paths
from phone_tui.testing import make_handset, set_up


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def a_used_home(home):
    """A data folder as phone-tui leaves it: both OSes, a stage phone, training, logs, the
    carrier's folder; and the user's own files in among them."""
    paths = resolve_paths(home)

    async def make() -> None:
        phone = make_handset(home)
        await set_up(phone)
        phone.personas["secure"].spool("envelope", data="00")
        phone.switch_persona("open")
        await set_up(phone, "731956")
        stage_phone = make_handset(paths.data_dir / "demo" / "phone-1")
        await set_up(stage_phone)

    asyncio.run(make())
    setup_logging(paths.log_file, "info", max_bytes=200)
    for n in range(20):
        logging.getLogger("phone_tui.test").info("line %d of the session", n)
    logger = logging.getLogger("phone_tui")
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    logger.propagate = True
    (paths.data_dir / "training").mkdir()
    (paths.data_dir / "training" / "alice.json").write_text("{}")
    (paths.data_dir / "network" / "bots").mkdir(parents=True)
    (paths.data_dir / "network" / "bots" / "8619000000110.db").write_bytes(b"x")
    (paths.data_dir / "network" / "carrier.key").write_bytes(b"k" * 32)
    (paths.data_dir / "network" / "directory.json").write_text("{}")
    (paths.data_dir / "personas" / "secure" / ".keystore.bin.abc123.tmp").write_bytes(b"x")
    (home / "settings.toml").write_text('theme = "open"\n')
    foreign = [paths.data_dir / "thesis" / "chapter1.txt",
               paths.data_dir / "personas" / "secure" / "notes.txt",
               paths.log_dir / "my-notes.txt",
               paths.data_dir / "demo" / "phone-1" / "data" / "personas" / "open" / "x.pdf"]
    for path in foreign:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("mine")
    assert (paths.log_dir / "phone-tui.log.1").exists()
    return paths, foreign


def test_reset_keeps_and_lists_foreign_files_and_deletes_everything_phone_tui_made(
        capsys, tmp_path):
    home = tmp_path / "home"
    paths, foreign = a_used_home(home)
    code, out, err = run(capsys, "reset", "--yes", "--data-dir", str(home))
    assert code == 0 and err == ""
    for path in foreign:
        assert path.read_text() == "mine"
    assert f"kept: {paths.data_dir / 'thesis'}/" in out  # a foreign folder, once
    for path in foreign[1:]:
        assert f"kept: {path}" in out
    left = sorted(str(p.relative_to(home)) for p in home.rglob("*") if p.is_file())
    assert left == sorted(["settings.toml", *(str(p.relative_to(home)) for p in foreign)])
    assert not (paths.data_dir / "training").exists()
    assert not (paths.data_dir / "network").exists()
    assert not (paths.data_dir / "personas" / "open").exists()  # emptied, so removed
    assert (home / "settings.toml").read_text() == 'theme = "open"\n'
    assert "Wiped" in out


def test_reset_of_only_phone_tui_files_leaves_no_folder_behind(capsys, tmp_path):
    home = tmp_path / "home"
    paths, foreign = a_used_home(home)
    for path in foreign:
        path.unlink()
    (paths.data_dir / "thesis").rmdir()
    code, out, _ = run(capsys, "reset", "--yes", "--data-dir", str(home))
    assert code == 0 and "kept:" not in out
    assert not paths.data_dir.exists() and not paths.log_dir.exists()


def test_the_prompt_lists_what_will_be_deleted_and_what_is_kept(capsys, tmp_path, monkeypatch):
    home = tmp_path / "home"
    paths, foreign = a_used_home(home)
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True, raising=False)
    prompts = []
    monkeypatch.setattr("builtins.input", lambda prompt: prompts.append(prompt) or "no")
    code, out, _ = run(capsys, "reset", "--data-dir", str(home))
    assert code == 1 and "nothing was deleted" in out
    secure = next(line for line in out.splitlines()
                  if line.strip().startswith(f"{paths.persona_dir('secure')}/:"))
    assert "keystore.bin" in secure and "store.db" in secure and "spool.jsonl" in secure
    assert "store.db" in out and "spool.jsonl" in out and "phone-tui.log.1" in out
    assert f"kept: {foreign[0].parent}/" in out
    assert (paths.persona_dir("secure") / "keystore.bin").exists()


def test_nothing_of_phone_tuis_means_nothing_to_reset(capsys, tmp_path):
    home = tmp_path / "home"
    (home / "data" / "thesis").mkdir(parents=True)
    (home / "data" / "thesis" / "chapter1.txt").write_text("mine")
    code, out, _ = run(capsys, "reset", "--yes", "--data-dir", str(home))
    assert code == 0 and "Nothing to reset" in out and "kept:" in out
    assert (home / "data" / "thesis" / "chapter1.txt").read_text() == "mine"


def test_code_can_add_to_the_inventory(tmp_path, monkeypatch):
    from phone_tui.core import inventory

    monkeypatch.setattr(inventory, "DATA_FILES", list(inventory.DATA_FILES))
    (tmp_path / "calls").mkdir()
    (tmp_path / "calls" / "log.db").write_text("")
    assert scan(tmp_path, data_patterns()).foreign == [tmp_path / "calls"]
    add_data_files("calls/*.db")
    found = scan(tmp_path, data_patterns())
    assert found.files == [tmp_path / "calls" / "log.db"] and not found.foreign


def test_a_fresh_stage_keeps_a_foreign_file_and_deletes_nothing(tmp_path):
    import pytest

    from phone_tui.handset.stage import StageError, remove_stage

    root = tmp_path / "demo"
    asyncio.run(set_up(make_handset(root / "phone-1")))
    (root / "phone-1" / "data" / "thesis.txt").write_text("mine")
    with pytest.raises(StageError, match="thesis.txt.*not deleting it"):
        remove_stage(root)
    assert (root / "phone-1" / "data" / "personas" / "secure" / "keystore.bin").exists()
    (root / "phone-1" / "data" / "thesis.txt").unlink()
    remove_stage(root)
    assert not root.exists()
