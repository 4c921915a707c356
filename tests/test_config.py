from __future__ import annotations

import pytest

from phone_tui.core.config import Settings, load_settings, render_settings, save_settings
from phone_tui.errors import ConfigError


def test_first_run_writes_commented_defaults(tmp_path):
    path = tmp_path / "settings.toml"
    settings = load_settings(path)
    assert settings == Settings()
    text = path.read_text()
    assert "# Wipe a persona after this many wrong PINs" in text
    assert load_settings(path) == Settings()
    assert oct(path.stat().st_mode & 0o777) == "0o600"


def test_round_trip_keeps_values_and_comments(tmp_path):
    path = tmp_path / "settings.toml"
    wanted = Settings(theme="open", persona="open", wipe_after_failures=0, log_level="debug",
                      keymap={"handset.lock": "ctrl+k"})
    save_settings(path, wanted)
    assert load_settings(path) == wanted
    assert path.read_text() == render_settings(wanted)
    assert "# Remap keys" in path.read_text()


@pytest.mark.parametrize(("text", "pattern"), [
    ('theme = "open"\ncolour = "red"\n', r"line 2, key 'colour': unknown key"),
    ('wipe_after_failures = "ten"\n',
     r"line 1, key 'wipe_after_failures': expected an integer, got a string"),
    ("wipe_after_failures = true\n", r"key 'wipe_after_failures': expected an integer"),
    ('persona = "android"\n', r"key 'persona': expected one of secure, open"),
    ('log_level = "loud"\n', r"key 'log_level'"),
    ("wipe_after_failures = -1\n", r"key 'wipe_after_failures'"),
    ('theme = "open"\ntheme = \n', r"line 2.*not valid TOML"),
    ("[keymap]\n\"handset.lock\" = 3\n", r"key 'keymap.handset.lock'"),
])
def test_bad_settings_name_file_line_and_key_and_the_file_is_untouched(tmp_path, text, pattern):
    path = tmp_path / "settings.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=pattern) as caught:
        load_settings(path)
    assert str(path) in str(caught.value)
    assert path.read_text() == text


def test_non_utf8_settings_is_an_error(tmp_path):
    path = tmp_path / "settings.toml"
    path.write_bytes(b"theme = \"\xff\"\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_settings(path)
