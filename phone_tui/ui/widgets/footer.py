"""A Footer that redraws once per burst of binding changes, and can show only some keys.

Textual's Footer recomposes (one widget per key, each styled anew) on every focus or binding
change; a screen that mounts, focuses and refreshes its bindings in one go paid for three
recomposes. Coalescing them makes the first frame cheaper (benchmarks/startup.py).

On the stage the footer shows only the presenter's keys (``only``: binding ids, in the order
shown); every other key is in the help screen. The phone's bindings have no groups, so keys
are drawn one by one.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer
from textual.widgets._footer import FooterKey


class PhoneFooter(Footer):
    _recompose_pending = False

    def __init__(self, *, only: tuple[str, ...] | None = None) -> None:
        super().__init__()
        self.only = only

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

    def compose(self) -> ComposeResult:
        if not self._bindings_ready:
            return
        app = self.app
        active = self.screen.active_bindings
        entries = list(active.values())
        if self.only is not None:
            order = {binding_id: index for index, binding_id in enumerate(self.only)}
            entries = sorted((e for e in entries if e.binding.id in order),
                             key=lambda e: order[e.binding.id])
        shown: set[str] = set()
        for _namespace, binding, enabled, tooltip in entries:
            if not binding.show or binding.action in shown:
                continue
            shown.add(binding.action)
            yield FooterKey(binding.key, app.get_key_display(binding), binding.description,
                            binding.action, disabled=not enabled,
                            tooltip=tooltip or binding.description,
                            ).data_bind(compact=Footer.compact)
        if self.show_command_palette and app.ENABLE_COMMAND_PALETTE:
            palette = active.get(app.COMMAND_PALETTE_BINDING)
            if palette is not None:
                _namespace, binding, enabled, tooltip = palette
                yield FooterKey(binding.key, app.get_key_display(binding), binding.description,
                                binding.action, classes="-command-palette",
                                disabled=not enabled, tooltip=tooltip or binding.description)
