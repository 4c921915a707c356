"""A QR code drawn with half blocks (two modules per cell), from segno's module matrix."""

from __future__ import annotations

from textual.widgets import Static

QUIET = 2  # modules of light border (scanners want some)


def qr_lines(data: str) -> list[str]:
    """Rows of "█▀▄ " characters. Light modules are drawn and dark ones left blank, so on a
    dark terminal the code reads dark-on-light, as scanners expect (like qrencode -t UTF8)."""
    import segno  # only when a QR code is shown

    matrix = [list(row) for row in segno.make(data, error="m", micro=False).matrix]
    width = len(matrix[0]) + 2 * QUIET
    rows = ([[0] * width] * QUIET + [[0] * QUIET + row + [0] * QUIET for row in matrix]
            + [[0] * width] * QUIET)
    if len(rows) % 2:
        rows.append([0] * width)
    glyph = {(0, 0): "█", (0, 1): "▀", (1, 0): "▄", (1, 1): " "}
    return ["".join(glyph[(top, bottom)] for top, bottom in zip(upper, lower, strict=True))
            for upper, lower in zip(rows[::2], rows[1::2], strict=True)]


class QRCode(Static):
    """Shows ``data`` as a QR code."""

    DEFAULT_CSS = "QRCode { width: auto; height: auto; }"

    def __init__(self, data: str = "", *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.data = ""
        self.show(data)

    def show(self, data: str) -> None:
        if data != self.data:
            self.data = data
            self.update("\n".join(qr_lines(data)) if data else "")
