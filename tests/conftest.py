from __future__ import annotations

from pathlib import Path

import pytest

from phone_tui.core.clock import ManualClock
from phone_tui.core.entropy import DeterministicEntropy
from phone_tui.handset.handset import Handset
from phone_tui.testing import make_app, make_handset


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def entropy() -> DeterministicEntropy:
    return DeterministicEntropy()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def handset(data_dir: Path, clock: ManualClock) -> Handset:
    return make_handset(data_dir, clock=clock)


@pytest.fixture
def app_factory(data_dir: Path, clock: ManualClock):
    def build(**kwargs):
        kwargs.setdefault("clock", clock)
        return make_app(data_dir, **kwargs)

    return build
