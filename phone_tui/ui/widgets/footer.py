"""The footer of bindings drawn as one widget, redrawn once per burst of binding changes.

Textual's Footer is a container of one FooterKey widget per key, recomposed (every key made,
mounted and styled anew) on each focus or binding change: on the phone's lock screen its seven
keys cost about 80 M instructions before the first frame (benchmarks/startup.py). This footer
draws the same keys, in the same styles (Footer's and FooterKey's CSS variables), as one line
of text, and finds the key under the mouse by its columns, as PinPad does for its keypad: a
click presses the key (a disabled one rings the bell), hovering highlights it and shows its
tooltip. A burst of binding changes (a screen mounts, focuses and refreshes its bindings in one
go) redraws it once, and a change that leaves the keys as they are redraws nothing.

On the stage the footer shows only the presenter's keys (``only``: binding ids, in the order
shown); every other key is in the help screen.
"""

from __future__ import annotations

from typing import NamedTuple

from rich.style import Style
from rich.text import Text
from textual import events
from textual.reactive import reactive
from textual.screen import Screen
from textual.widget import Widget


class FooterEntry(NamedTuple):
    """One key the footer shows."""

    key: str
    key_display: str
    description: str
    action: str
    enabled: bool
    tooltip: str
    palette: bool  # the command palette's key, drawn at the right end


class PhoneFooter(Widget, can_focus=False):
    """The keys that work now, and what they do; click one to press it."""

    ALLOW_SELECT = False
    COMPONENT_CLASSES = {"footer-key--key", "footer-key--description", "footer-key--hover",
                         "footer-key--palette-edge"}
    # Footer's and FooterKey's look, in the variables Textual's Footer uses.
    DEFAULT_CSS = """
    PhoneFooter {
        dock: bottom; height: 1; width: 100%; text-wrap: nowrap;
        color: $footer-foreground; background: $footer-background;
        & > .footer-key--key {
            color: $footer-key-foreground; background: $footer-key-background;
            text-style: bold;
        }
        & > .footer-key--description {
            color: $footer-description-foreground; background: $footer-description-background;
        }
        & > .footer-key--hover {
            color: $footer-key-foreground; background: $block-hover-background;
        }
        & > .footer-key--palette-edge { color: $foreground 20%; }
    }
    """

    compact = reactive(False)
    """Less space around each key (as Footer's ``compact``)."""
    show_command_palette = reactive(True)
    """Show the command palette's key at the right end."""

    def __init__(self, *, only: tuple[str, ...] | None = None, id: str | None = None) -> None:
        super().__init__(id=id)
        self.only = only
        self._bindings_ready = False
        self._pending = False
        self._hover: int | None = None
        self.shown: list[FooterEntry] = []
        """The keys drawn, in order (the palette's last)."""
        self._spans: list[tuple[int, int]] = []  # the columns of each shown key

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self.bindings_changed)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def bindings_changed(self, screen: Screen) -> None:
        self._bindings_ready = True
        if not screen.app.app_focus or self._pending:
            return
        if self.is_attached and screen is self.screen:
            self._pending = True
            if screen.focused is None:
                # Between views (or before the first one has the focus): the view about to
                # take it, after the next refresh, brings its own keys; wait for it.
                self.call_after_refresh(self._update_keys)
            else:
                # Once this burst of changes is handled, before the next frame.
                self.call_later(self._update_keys)

    def _update_keys(self) -> None:
        self._pending = False
        keys = self._keys()
        if keys != self.shown:  # a focus move within a view often leaves them as they are
            self.shown = keys
            self._hover = None
            self.refresh()

    def watch_compact(self) -> None:
        self.refresh()

    def watch_show_command_palette(self) -> None:
        if self.is_mounted:
            self._update_keys()

    def _keys(self) -> list[FooterEntry]:
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
            keys.append(FooterEntry(binding.key, app.get_key_display(binding),
                                    binding.description, binding.action, enabled,
                                    tooltip or binding.description, False))
        if self.show_command_palette and app.ENABLE_COMMAND_PALETTE:
            palette = active.get(app.COMMAND_PALETTE_BINDING)
            if palette is not None:
                _namespace, binding, enabled, _tooltip = palette
                keys.append(FooterEntry(binding.key, app.get_key_display(binding),
                                        binding.description, binding.action, enabled,
                                        binding.tooltip or binding.description, True))
        return keys

    def _label(self, entry: FooterEntry, hovered: bool) -> Text:
        """One key as FooterKey draws it: the key, then its description."""
        key_style = self.get_component_rich_style("footer-key--key", partial=True)
        description_style = self.get_component_rich_style("footer-key--description",
                                                          partial=True)
        compact = self.compact or entry.palette  # the palette's key is always compact
        if compact:
            key, description = entry.key_display, f" {entry.description}"
        else:
            key, description = f" {entry.key_display} ", f"{entry.description} "
        if entry.palette and not self.compact:
            description += " "  # its padding-right in a footer that is not compact
        label = (Text.assemble((key, key_style), (description, description_style))
                 if entry.description else Text(entry.key_display, key_style))
        base = Style()
        if hovered:  # $block-hover-background has an alpha: blend it on the footer's
            hover = self.get_component_styles("footer-key--hover")
            base = Style(color=hover.color.rich_color,
                         bgcolor=(self.styles.background + hover.background).rich_color)
        if not entry.enabled:
            base += Style(dim=True)
        label.stylize_before(base)
        return label

    def render(self) -> Text:
        width = self.size.width
        line = Text(no_wrap=True, end="")
        spans: list[tuple[int, int]] = []
        keys = [entry for entry in self.shown if not entry.palette]
        palette = [entry for entry in self.shown if entry.palette]
        labels = [self._label(entry, self._hover == index) for index, entry in enumerate(keys)]
        gap = 1 if self.compact else 0  # FooterKey's margin-right in a compact footer
        label = self._label(palette[0], self._hover == len(keys)) if palette else None
        room = width - (label.cell_len + 1 if label is not None else 0)
        kept = set(range(len(keys)))
        if width and sum(text.cell_len + gap for text in labels) > room:
            # Whole keys, never one cut mid-word: those that fit, in order, and the key to
            # the help screen (every key is there) whatever else is left out.
            kept = {index for index, entry in enumerate(keys) if entry.action == "keys"}
            used = sum(labels[index].cell_len + gap for index in kept)
            for index, text in enumerate(labels):
                if index in kept:
                    continue
                if used + text.cell_len + gap > room:
                    break
                kept.add(index)
                used += text.cell_len + gap
        for index, text in enumerate(labels):
            if index not in kept:
                spans.append((0, 0))  # not drawn: no column is it
                continue
            start = line.cell_len
            line.append_text(text)
            spans.append((start, line.cell_len))
            if gap:
                line.append(" ")
        if label is not None and width:
            # Its colour has an alpha ($foreground 20%): blend it on the footer's background.
            edge_color = self.get_component_styles("footer-key--palette-edge").color
            edge = Style(color=(self.styles.background + edge_color).rich_color)
            start = max(0, width - label.cell_len - 1)
            line.truncate(start, pad=True)
            spans = [(a, min(b, start)) for a, b in spans]
            line.append("▏", edge)  # Footer's border-left: vkey on the palette's key
            spans.append((start + 1, width))
            line.append_text(label)
        self._spans = spans
        return line

    def needed_width(self) -> int:
        """Columns the keys need to show in full (the palette's key and its edge included)."""
        keys = [entry for entry in self.shown if not entry.palette]
        width = sum(self._label(entry, False).cell_len + self.compact for entry in keys)
        width += sum(self._label(entry, False).cell_len + 1
                     for entry in self.shown if entry.palette)
        return width

    def key_at(self, x: int) -> int | None:
        """The index in ``shown`` of the key drawn at column ``x``, or None."""
        for index, (start, end) in enumerate(self._spans):
            if start <= x < end:
                return index
        return None

    def offset_of(self, key: str) -> tuple[int, int]:
        """Where to click for ``key`` (its first column): for tests and flows."""
        for entry, (start, end) in zip(self.shown, self._spans, strict=False):
            if entry.key == key and end > start:
                return start, 0
        raise KeyError(key)

    def _set_hover(self, index: int | None) -> None:
        if index != self._hover:
            self._hover = index
            self.tooltip = self.shown[index].tooltip if index is not None else None
            self.refresh()

    def on_mouse_move(self, event: events.MouseMove) -> None:
        self._set_hover(self.key_at(event.x))

    def on_leave(self, event: events.Leave) -> None:
        self._set_hover(None)

    def on_mouse_down(self, event: events.MouseDown) -> None:
        index = self.key_at(event.x)
        if index is None:
            return
        event.stop()
        entry = self.shown[index]
        if entry.enabled:
            self.app.simulate_key(entry.key)
        else:
            self.app.bell()
