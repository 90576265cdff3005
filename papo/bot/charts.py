"""The stats chart as a PNG, drawn with the standard library only (zlib + struct): no plotting dependency.

A grouped bar chart of messages in and out per day, with a 5×7 pixel font for the numbers, day labels
and legend (ASCII capitals, digits and a few signs; anything else is drawn as a space).
"""

from __future__ import annotations

import struct
import unicodedata
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

from papo.services.stats import DayCount

Color = tuple[int, int, int]
WHITE: Color = (255, 255, 255)
INK: Color = (40, 44, 52)
GRID: Color = (225, 228, 234)
IN_COLOR: Color = (52, 120, 246)
OUT_COLOR: Color = (38, 166, 91)

_GLYPHS: dict[str, tuple[str, ...]] = {
    "0": ("01110", "10001", "10011", "10101", "11001", "10001", "01110"),
    "1": ("00100", "01100", "00100", "00100", "00100", "00100", "01110"),
    "2": ("01110", "10001", "00001", "00010", "00100", "01000", "11111"),
    "3": ("11111", "00010", "00100", "00010", "00001", "10001", "01110"),
    "4": ("00010", "00110", "01010", "10010", "11111", "00010", "00010"),
    "5": ("11111", "10000", "11110", "00001", "00001", "10001", "01110"),
    "6": ("00110", "01000", "10000", "11110", "10001", "10001", "01110"),
    "7": ("11111", "00001", "00010", "00100", "01000", "01000", "01000"),
    "8": ("01110", "10001", "10001", "01110", "10001", "10001", "01110"),
    "9": ("01110", "10001", "10001", "01111", "00001", "00010", "01100"),
    "A": ("01110", "10001", "10001", "11111", "10001", "10001", "10001"),
    "B": ("11110", "10001", "10001", "11110", "10001", "10001", "11110"),
    "C": ("01110", "10001", "10000", "10000", "10000", "10001", "01110"),
    "D": ("11100", "10010", "10001", "10001", "10001", "10010", "11100"),
    "E": ("11111", "10000", "10000", "11110", "10000", "10000", "11111"),
    "F": ("11111", "10000", "10000", "11110", "10000", "10000", "10000"),
    "G": ("01110", "10001", "10000", "10111", "10001", "10001", "01111"),
    "H": ("10001", "10001", "10001", "11111", "10001", "10001", "10001"),
    "I": ("01110", "00100", "00100", "00100", "00100", "00100", "01110"),
    "J": ("00111", "00010", "00010", "00010", "00010", "10010", "01100"),
    "K": ("10001", "10010", "10100", "11000", "10100", "10010", "10001"),
    "L": ("10000", "10000", "10000", "10000", "10000", "10000", "11111"),
    "M": ("10001", "11011", "10101", "10101", "10001", "10001", "10001"),
    "N": ("10001", "10001", "11001", "10101", "10011", "10001", "10001"),
    "O": ("01110", "10001", "10001", "10001", "10001", "10001", "01110"),
    "P": ("11110", "10001", "10001", "11110", "10000", "10000", "10000"),
    "Q": ("01110", "10001", "10001", "10001", "10101", "10010", "01101"),
    "R": ("11110", "10001", "10001", "11110", "10100", "10010", "10001"),
    "S": ("01111", "10000", "10000", "01110", "00001", "00001", "11110"),
    "T": ("11111", "00100", "00100", "00100", "00100", "00100", "00100"),
    "U": ("10001", "10001", "10001", "10001", "10001", "10001", "01110"),
    "V": ("10001", "10001", "10001", "10001", "10001", "01010", "00100"),
    "W": ("10001", "10001", "10001", "10101", "10101", "10101", "01010"),
    "X": ("10001", "10001", "01010", "00100", "01010", "10001", "10001"),
    "Y": ("10001", "10001", "10001", "01010", "00100", "00100", "00100"),
    "Z": ("11111", "00001", "00010", "00100", "01000", "10000", "11111"),
    "/": ("00001", "00010", "00010", "00100", "01000", "01000", "10000"),
    ":": ("00000", "01100", "01100", "00000", "01100", "01100", "00000"),
    "%": ("11000", "11001", "00010", "00100", "01000", "10011", "00011"),
    ".": ("00000", "00000", "00000", "00000", "00000", "01100", "01100"),
    "-": ("00000", "00000", "00000", "11111", "00000", "00000", "00000"),
    "(": ("00010", "00100", "01000", "01000", "01000", "00100", "00010"),
    ")": ("01000", "00100", "00010", "00010", "00010", "00100", "01000"),
}


def encode_png(width: int, height: int, rgb: bytes | bytearray) -> bytes:
    """An 8-bit RGB PNG of `width`×`height` pixels from row-major RGB bytes."""
    if len(rgb) != width * height * 3:
        raise ValueError(f"expected {width * height * 3} bytes of RGB, got {len(rgb)}")
    stride = width * 3
    raw = b"".join(b"\x00" + bytes(rgb[y * stride:(y + 1) * stride]) for y in range(height))  # filter 0 per row

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit depth, colour type 2 (RGB)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


@dataclass(slots=True)
class Canvas:
    """A white RGB pixel buffer with rectangles and 5×7 text."""

    width: int
    height: int
    pixels: bytearray

    @classmethod
    def blank(cls, width: int, height: int, color: Color = WHITE) -> Canvas:
        """A canvas filled with one colour."""
        return cls(width, height, bytearray(bytes(color) * (width * height)))

    def rect(self, x0: int, y0: int, x1: int, y1: int, color: Color) -> None:
        """Fill [x0, x1) × [y0, y1), clipped to the canvas."""
        x0, x1 = max(0, min(x0, x1)), min(self.width, max(x0, x1))
        y0, y1 = max(0, min(y0, y1)), min(self.height, max(y0, y1))
        if x0 >= x1:
            return
        row = bytes(color) * (x1 - x0)
        for y in range(y0, y1):
            start = (y * self.width + x0) * 3
            self.pixels[start:start + len(row)] = row

    def text(self, x: int, y: int, text: str, color: Color = INK, scale: int = 2) -> int:
        """Draw text with its top-left at (x, y); returns the x after it."""
        for char in ascii_caps(text):
            glyph = _GLYPHS.get(char)
            if glyph is not None:
                for gy, bits in enumerate(glyph):
                    for gx, bit in enumerate(bits):
                        if bit == "1":
                            self.rect(x + gx * scale, y + gy * scale, x + (gx + 1) * scale, y + (gy + 1) * scale,
                                      color)
            x += 6 * scale
        return x

    def png(self) -> bytes:
        """The canvas as PNG bytes."""
        return encode_png(self.width, self.height, self.pixels)


def ascii_caps(text: str) -> str:
    """Capitals without accents (the font has no others): 'Saída' -> 'SAIDA'."""
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c)).upper()


def text_width(text: str, scale: int = 2) -> int:
    """Pixels a text takes."""
    return len(ascii_caps(text)) * 6 * scale


def _nice_max(value: int) -> int:
    """A round axis maximum at or above value (1, 2, 5 × 10^n)."""
    if value <= 5:
        return 5
    step = 1
    while True:
        for m in (1, 2, 5):
            if m * step >= value:
                return m * step
        step *= 10


def stats_chart(series: Sequence[DayCount], *, title: str, labels: tuple[str, str] = ("IN", "OUT"),
                width: int = 800, height: int = 420) -> bytes:
    """A PNG bar chart of messages in and out per day."""
    canvas = Canvas.blank(width, height)
    left, right, top, bottom = 70, 20, 60, 50
    plot_w, plot_h = width - left - right, height - top - bottom
    canvas.text(left, 18, title, INK, 2)
    legend_x = width - right - text_width(labels[0]) - text_width(labels[1]) - 70
    canvas.rect(legend_x, 18, legend_x + 14, 32, IN_COLOR)
    x = canvas.text(legend_x + 20, 18, labels[0])
    canvas.rect(x + 16, 18, x + 30, 32, OUT_COLOR)
    canvas.text(x + 36, 18, labels[1])
    peak = _nice_max(max([max(d.incoming, d.outgoing) for d in series] + [0]))
    for i in range(5):  # horizontal grid with values
        value = peak * i // 4
        y = top + plot_h - plot_h * i // 4
        canvas.rect(left, y, left + plot_w, y + 1, GRID)
        label = str(value)
        canvas.text(left - 10 - text_width(label), y - 7, label)
    canvas.rect(left, top + plot_h, left + plot_w, top + plot_h + 2, INK)
    n = max(1, len(series))
    group = plot_w / n
    bar = max(1, int(group * 0.35))
    every = 1 if n <= 10 else 5 if n <= 31 else 10
    for i, day in enumerate(series):
        gx = left + int(i * group + group / 2)
        for value, color, dx in ((day.incoming, IN_COLOR, -bar), (day.outgoing, OUT_COLOR, 0)):
            h = round(plot_h * value / peak)
            canvas.rect(gx + dx, top + plot_h - h, gx + dx + bar, top + plot_h, color)
        if i % every == 0 or (i == n - 1 and i % every >= 3):
            label = day.day.strftime("%d/%m")
            lx = min(gx - text_width(label) // 2, width - text_width(label) - 2)
            canvas.text(lx, top + plot_h + 12, label)
    return canvas.png()


BAR_COLORS: tuple[Color, ...] = ((52, 120, 246), (38, 166, 91), (124, 77, 255), (255, 171, 0), (229, 57, 53),
                                 (144, 164, 174), (189, 189, 189))


def bars_chart(bars: Sequence[tuple[str, int]], *, title: str, total: int, width: int = 800,
               height: int = 420) -> bytes:
    """A PNG of horizontal bars, one per (label, value), each against `total` (a campaign's funnel)."""
    canvas = Canvas.blank(width, height)
    canvas.text(20, 18, title, INK, 2)
    top, left = 60, 20 + max([text_width(label) for label, _ in bars] + [0]) + 16
    right_room = text_width(f"{total} (100%)") + 24
    plot_w = max(10, width - left - right_room)
    row_h = (height - top - 20) // max(1, len(bars))
    bar_h = max(4, int(row_h * 0.6))
    for i, (label, value) in enumerate(bars):
        y = top + i * row_h
        canvas.text(20, y + (bar_h - 14) // 2, label)
        canvas.rect(left, y, left + plot_w, y + bar_h, GRID)
        w = round(plot_w * value / total) if total else 0
        canvas.rect(left, y, left + w, y + bar_h, BAR_COLORS[i % len(BAR_COLORS)])
        share = round(100 * value / total) if total else 0
        canvas.text(left + plot_w + 10, y + (bar_h - 14) // 2, f"{value} ({share}%)")
    return canvas.png()
