"""How the phone uses its screen: the frame's height and its empty rows, lock and home screens.

For each terminal size, the rows inside the phone frame (border excluded) that draw nothing,
and the longest run of them: a phone that is mostly an empty box shows here. Deterministic
(fixed clock and keys), so one run is the figure; it is a layout measure, not a timing.

    python benchmarks/screen_space.py
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from pathlib import Path

from phone_tui.core.clock import ManualClock
from phone_tui.testing import make_app, make_handset, set_up, settle
from phone_tui.ui.handset_view import HandsetView

SIZES = [(100, 40), (160, 45)]


def measure(app) -> dict[str, int]:  # noqa: ANN001 - a running PhoneApp
    frame = app.query_one(HandsetView).query_one("#frame").region
    strips = app.screen._compositor.render_strips()
    rows = [strips[y].crop(frame.x + 1, frame.right - 1).text
            for y in range(frame.y + 1, frame.bottom - 1)]
    run = longest = 0
    for row in rows:
        run = run + 1 if not row.strip() else 0
        longest = max(longest, run)
    return {"frame_rows": frame.height, "inner_rows": len(rows),
            "blank_rows": sum(1 for row in rows if not row.strip()),
            "longest_blank_run": longest}


async def screen(size: tuple[int, int], *, locked: bool) -> dict[str, int]:
    with tempfile.TemporaryDirectory() as folder:
        data_dir = Path(folder)
        handset = make_handset(data_dir, clock=ManualClock())
        await set_up(handset, locked=locked)
        app = make_app(data_dir, handset=handset)
        async with app.run_test(size=size) as pilot:
            await settle(pilot)
            return measure(app)


async def main() -> None:
    out = {}
    for width, height in SIZES:
        for name, locked in (("lock", True), ("home", False)):
            out[f"{name}@{width}x{height}"] = await screen((width, height), locked=locked)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
