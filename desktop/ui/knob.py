"""A rotary knob and a level meter, painted by hand so they look like a plugin's and cost little to draw."""

from __future__ import annotations

import math
from typing import Callable

from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QPainter, QPen, QPixmap
from PySide6.QtWidgets import QSizePolicy, QWidget

from . import theme

START_DEG = 225.0  # 7 o'clock
SWEEP_DEG = 270.0


class Knob(QWidget):
    """Drag up/down (Shift for fine), wheel, or double-click to reset. ``marker`` shows a live value on the arc
    (the input's latent position for latent knobs)."""

    valueChanged = Signal(float)

    def __init__(
        self,
        label: str,
        minimum: float,
        maximum: float,
        default: float,
        fmt: str | Callable[[float], str] = "{:+.2f}",
        size: int = 54,
        bipolar: bool = False,
        color: str = theme.ACCENT,
        parent=None,
    ):
        super().__init__(parent)
        self.label = label
        self.minimum, self.maximum, self.default = float(minimum), float(maximum), float(default)
        self.fmt = fmt
        self.bipolar = bipolar
        self.color = QColor(color)
        self._value = float(default)
        self._marker: float | None = None
        self._face: QPixmap | None = None  # everything but the marker, drawn again only when the value changes
        self._size = size
        self._drag_y: float | None = None
        self.setFixedSize(QSize(size + 26, size + 28))
        self.setSizePolicy(QSizePolicy.Fixed, QSizePolicy.Fixed)
        self.setFocusPolicy(Qt.WheelFocus)
        self.setToolTip(f"{label}: drag, wheel or double-click to reset to {self.text(default)}")

    def value(self) -> float:
        return self._value

    def text(self, v: float) -> str:
        """``v`` as the knob shows it: ``fmt`` is a format string or a function."""
        return self.fmt(v) if callable(self.fmt) else self.fmt.format(v)

    def setValue(self, v: float, emit: bool = True) -> None:
        v = min(self.maximum, max(self.minimum, float(v)))
        if v == self._value:
            return
        self._value = v
        self._face = None
        self.update()
        if emit:
            self.valueChanged.emit(v)

    def setMarker(self, v: float | None) -> None:
        """Show a live value as a dot on the arc; repainted only when the dot moves by a visible step (1/4 degree),
        because the latent knobs get a new marker 30 times a second each."""
        if v is not None and not math.isfinite(v):
            v = None
        if v == self._marker:
            return
        if (
            v is not None
            and self._marker is not None
            and abs(self._frac(v) - self._frac(self._marker)) * SWEEP_DEG < 0.25
        ):
            return
        self._marker = v
        self.update()

    def reset(self) -> None:
        self.setValue(self.default)

    def _frac(self, v: float) -> float:
        return (min(self.maximum, max(self.minimum, v)) - self.minimum) / (self.maximum - self.minimum)

    def mouseDoubleClickEvent(self, e):
        self.reset()

    def mousePressEvent(self, e):
        self._drag_y = e.position().y()

    def mouseMoveEvent(self, e):
        if self._drag_y is None:
            return
        dy = self._drag_y - e.position().y()
        self._drag_y = e.position().y()
        scale = 0.001 if e.modifiers() & Qt.ShiftModifier else 0.006
        self.setValue(self._value + dy * scale * (self.maximum - self.minimum))

    def mouseReleaseEvent(self, e):
        self._drag_y = None

    def wheelEvent(self, e):
        steps = e.angleDelta().y() / 120.0
        self.setValue(self._value + steps * 0.02 * (self.maximum - self.minimum))

    def _geometry(self) -> tuple[QRectF, QPointF, float]:
        s = self._size
        rect = QRectF((self.width() - s) / 2 + 4, 14, s - 8, s - 8)
        return rect, rect.center(), rect.width() / 2

    def _paint_face(self) -> QPixmap:
        """The knob without its marker (track, value arc, body, pointer, label, value) on a transparent pixmap."""
        dpr = self.devicePixelRatioF()
        face = QPixmap(int(math.ceil(self.width() * dpr)), int(math.ceil(self.height() * dpr)))
        face.setDevicePixelRatio(dpr)
        face.fill(Qt.transparent)
        p = QPainter(face)
        p.setRenderHint(QPainter.Antialiasing)
        s = self._size
        rect, c, r = self._geometry()
        p.setPen(QPen(QColor(theme.PANEL_EDGE), 4, Qt.SolidLine, Qt.RoundCap))
        p.drawArc(rect, int((90 - START_DEG + SWEEP_DEG) * 16) - int(SWEEP_DEG * 16), int(SWEEP_DEG * 16))
        origin = self._frac(0.0 if self.bipolar else self.minimum)
        f = self._frac(self._value)
        a0 = START_DEG - origin * SWEEP_DEG
        a1 = START_DEG - f * SWEEP_DEG
        p.setPen(QPen(self.color, 4, Qt.SolidLine, Qt.FlatCap))
        # Qt angles: 0 = 3 o'clock, counter-clockwise positive, in 1/16 degrees
        p.drawArc(rect, int(a0 * 16), int((a1 - a0) * 16))
        p.setPen(Qt.NoPen)
        p.setBrush(QColor("#2b2f37"))
        p.drawEllipse(c, r - 6, r - 6)
        ang = math.radians(a1)
        p.setPen(QPen(QColor(theme.TEXT), 2, Qt.SolidLine, Qt.RoundCap))
        p.drawLine(
            c + QPointF(math.cos(ang), -math.sin(ang)) * (r * 0.2), c + QPointF(math.cos(ang), -math.sin(ang)) * (r - 8)
        )
        p.setPen(QColor(theme.TEXT))
        f1 = QFont("DejaVu Sans", 8)
        f1.setBold(True)
        p.setFont(f1)
        p.drawText(QRectF(0, 0, self.width(), 13), Qt.AlignCenter, self.label)
        p.setPen(QColor(theme.DIM))
        p.setFont(QFont("DejaVu Sans Mono", 8))
        p.drawText(QRectF(0, s + 8, self.width(), 14), Qt.AlignCenter, self.text(self._value))
        p.end()
        return face

    def paintEvent(self, e):
        if self._face is None or self._face.devicePixelRatio() != self.devicePixelRatioF():
            self._face = self._paint_face()
        p = QPainter(self)
        p.drawPixmap(0, 0, self._face)
        if self._marker is not None:
            _, c, r = self._geometry()
            am = math.radians(START_DEG - self._frac(self._marker) * SWEEP_DEG)
            p.setRenderHint(QPainter.Antialiasing)
            p.setPen(Qt.NoPen)
            p.setBrush(QColor(theme.ACCENT2))
            p.drawEllipse(c + QPointF(math.cos(am), -math.sin(am)) * (r + 1), 3.2, 3.2)
        p.end()


class Meter(QWidget):
    """A vertical peak meter in dBFS (-60..0) with a red top above -1 dBFS."""

    def __init__(self, label: str, parent=None):
        super().__init__(parent)
        self.label = label
        self._db = -120.0
        self._hold = -120.0
        self.setFixedWidth(22)
        self.setMinimumHeight(90)

    def setPeak(self, peak: float) -> None:
        db = 20 * math.log10(max(peak, 1e-6))
        self._db = max(db, self._db - 1.5)  # fall-back of the bar between frames
        self._hold = max(db, self._hold - 0.3)
        self.update()

    def paintEvent(self, e):
        p = QPainter(self)
        h = self.height() - 14
        p.fillRect(5, 0, 12, h, QColor("#101215"))

        def y_of(db):
            return h * (1 - (min(0.0, max(-60.0, db)) + 60) / 60)

        y = y_of(self._db)
        color = QColor(theme.WARN if self._db > -1 else theme.ACCENT)
        p.fillRect(QRectF(5, y, 12, h - y), color)
        p.fillRect(QRectF(5, y_of(self._hold), 12, 2), QColor(theme.TEXT))
        p.setPen(QColor(theme.DIM))
        p.setFont(QFont("DejaVu Sans", 7))
        p.drawText(QRectF(0, h, self.width(), 14), Qt.AlignCenter, self.label)
        p.end()
