"""The fixtures (clock, entropy, data_dir, handset, app_factory, stage_factory, flow_runner)
come from phone_tui.testing, which phone-tui installs as a pytest plugin."""

import logging

import pytest


@pytest.fixture(autouse=True)
def _restore_phone_tui_logger():
    """setup_logging() points the phone_tui logger at a file and stops it propagating; undo
    that after each test, so a later test's caplog sees its records whatever ran before."""
    logger = logging.getLogger("phone_tui")
    handlers, level, propagate = list(logger.handlers), logger.level, logger.propagate
    yield
    for handler in list(logger.handlers):
        if handler not in handlers:
            logger.removeHandler(handler)
            handler.close()
    logger.setLevel(level)
    logger.propagate = propagate


def pytest_xdist_auto_num_workers(config):  # noqa: ARG001 - pytest-xdist's hook signature
    """`-n auto` (pyproject's addopts): two workers per core. Most of a UI or flow test's time
    is waiting (Pilot's idle checks, the link's latency, Chromium), not computing, so twice as
    many workers as cores finish the suite sooner (on 2 cores: 2 min 31 s – 3 min 06 s with 4
    workers, 3 min 35 s – 3 min 47 s with 2)."""
    import os

    return min(8, 2 * (os.cpu_count() or 1))
