"""Codec profiles as data: the shipped table and the loader's refusals."""

from __future__ import annotations

import math

import pytest

from phone_tui.errors import ConfigError
from phone_tui.media.codecs import DEFAULT_CODEC, load_codecs, parse_codec

GOOD = {"label": "Mine", "sample_rate": 16000, "bitrate": 16000, "frame_ms": 20,
        "frame_bytes": 40, "ie": 1.0, "bpl": 20.0, "estimated": True, "source": "me"}


def test_the_shipped_codecs_have_their_frame_sizes_and_sources():
    codecs = load_codecs()
    assert DEFAULT_CODEC == "opus-16k"
    assert {name: (c.sample_rate, c.frame_bytes, c.frame_ms) for name, c in codecs.items()} == {
        "opus-16k": (16000, 40, 20), "amr-wb-12.65": (16000, 32, 20),
        "amr-nb-12.2": (8000, 32, 20)}
    assert codecs["opus-16k"].estimated and codecs["amr-wb-12.65"].estimated
    assert (codecs["amr-nb-12.2"].ie, codecs["amr-nb-12.2"].bpl) == (5.0, 10.0)
    assert all("G.113" in c.source for c in codecs.values())


def test_a_user_codec_is_added_or_replaces_one():
    codecs = load_codecs({"mine": GOOD, "opus-16k": {**GOOD, "label": "Opus, mine"}})
    assert codecs["mine"].ie == 1.0 and codecs["opus-16k"].label == "Opus, mine"


@pytest.mark.parametrize(("key", "value"), [
    ("ie", math.nan), ("ie", -1.0), ("bpl", 0), ("bpl", "10"), ("frame_bytes", 0),
    ("frame_bytes", 40.0), ("sample_rate", 11025), ("estimated", "yes"), ("label", ""),
    ("frame_ms", 25), ("bitrate", True), ("lookahead_ms", math.inf), ("warp", 9),
])
def test_a_bad_value_names_the_file_and_key(tmp_path, key, value):
    path = tmp_path / "settings.toml"
    with pytest.raises(ConfigError, match=f"codecs.mine.{key}") as caught:
        parse_codec("mine", {**GOOD, key: value}, path, "codecs.")
    assert str(path) in str(caught.value)


def test_a_missing_key_is_named(tmp_path):
    table = dict(GOOD)
    del table["bpl"]
    with pytest.raises(ConfigError, match="codecs.mine.bpl"):
        parse_codec("mine", table, tmp_path / "s.toml", "codecs.")


def test_a_shipped_file_without_codecs_is_refused(tmp_path):
    path = tmp_path / "codecs.toml"
    path.write_text("[other]\nx = 1\n")
    with pytest.raises(ConfigError, match="codecs"):
        load_codecs(shipped=path)
    path.write_text('[codecs.x]\nlabel = "x"\n')
    with pytest.raises(ConfigError, match="codecs.x"):
        load_codecs(shipped=path)
