"""A Footer that redraws once per burst of binding changes, and can show only some keys.

Textual's Footer recomposes (one widget per key, each styled anew) on every focus or binding
change; a screen that mounts, focuses and refreshes its bindings in one go paid for three
recomposes. Coalescing them, and skipping a recompose that would draw the same keys, makes
start-up cheaper (benchmarks/startup.py). Each key is made with the compactness it shows, so
none is restyled on mount to toggle it.

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
    _shown_keys: list[tuple[str, str, str, str, bool, str, str]] | None = None

    def __init__(self, *, only: tuple[str, ...] | None = None) -> None:
        super().__init__()
        self.only = only

    def bindings_changed(self, screen: Screen) -> None:
        self._bindings_ready = True  # what Footer.bindings_changed records (Textual 8.2)
        if not screen.app.app_focus or self._recompose_pending:
            return
        if self.is_attached and screen is self.screen:
            self._recompose_pending = True
            if screen.focused is None:
                # Between views (or before the first one has the focus): the view about to
                # take it, after the next refresh, brings its own keys; wait for it.
                self.call_after_refresh(self._recompose_once)
            else:
                # Once this burst of changes is handled, before the next frame: after the
                # next refresh (as Textual's Footer does) cost start-up a frame of its own
                # for the keys, 20–40 ms more to idle (benchmarks/startup.py).
                self.call_later(self._recompose_once)

    async def _recompose_once(self) -> None:
        self._recompose_pending = False
        # A binding change that leaves the keys as they are (a focus move within a view, a
        # reactive with bindings=True) redraws nothing: recomposing restyles every key.
        if self._keys() != self._shown_keys:
            await self.recompose()

    def _keys(self) -> list[tuple[str, str, str, str, bool, str, str]]:
        """What the footer shows: (key, its display, description, action, enabled, tooltip,
        classes) per key, in order."""
        if not self._bindings_ready:
            return []
        app = self.app
        active = self.screen.active_bindings
        entries = list(active.values())
        if self.only is not None:
            order = {binding_id: index for index, binding_id in enumerate(self.only)}
            entries = sorted((e for e in entries if e.binding.id in order),
                             key=lambda e: order[e.binding.id])
        keys = []
        shown: set[str] = set()
        for _namespace, binding, enabled, tooltip in entries:
            if not binding.show or binding.action in shown:
                continue
            shown.add(binding.action)
            keys.append((binding.key, app.get_key_display(binding), binding.description,
                         binding.action, enabled, tooltip or binding.description, ""))
        if self.show_command_palette and app.ENABLE_COMMAND_PALETTE:
            palette = active.get(app.COMMAND_PALETTE_BINDING)
            if palette is not None:
                _namespace, binding, enabled, tooltip = palette
                keys.append((binding.key, app.get_key_display(binding), binding.description,
                             binding.action, enabled, tooltip or binding.description,
                             "-command-palette"))
        return keys

    def compose(self) -> ComposeResult:
        self._shown_keys = self._keys()
        for key, display, description, action, enabled, tooltip, classes in self._shown_keys:
            # Born with the compactness it shows (the footer's; the palette key's is always
            # compact, as in Textual's Footer): FooterKey's default is compact, and toggling
            # its "-compact" class on mount restyled each key twice more before the first frame.
            compact = bool(classes) or self.compact
            widget = FooterKey(key, display, description, action, disabled=not enabled,
                               tooltip=tooltip, classes=f"{classes} -compact" if compact
                               else classes)
            widget.set_reactive(FooterKey.compact, compact)
            yield widget if classes else widget.data_bind(compact=Footer.compact)
