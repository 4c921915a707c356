"""A Footer that redraws once per burst of binding changes.

Textual's Footer recomposes (one widget per key, each styled anew) on every focus or binding
change; a screen that mounts, focuses and refreshes its bindings in one go paid for three
recomposes. Coalescing them makes the first frame cheaper (benchmarks/startup.py).
"""

from __future__ import annotations

from textual.screen import Screen
from textual.widgets import Footer


class PhoneFooter(Footer):
    _recompose_pending = False

    def bindings_changed(self, screen: Screen) -> None:
        self._bindings_ready = True  # what Footer.bindings_changed records (Textual 8.2)
        if not screen.app.app_focus or self._recompose_pending:
            return
        if self.is_attached and screen is self.screen:
            self._recompose_pending = True
            self.call_after_refresh(self._recompose_once)

    async def _recompose_once(self) -> None:
        self._recompose_pending = False
        await self.recompose()
