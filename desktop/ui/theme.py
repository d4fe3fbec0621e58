"""The dark, compact look of a synth plugin: one stylesheet and a handful of colours."""

from __future__ import annotations

BG = "#17191d"
PANEL = "#20232a"
PANEL_EDGE = "#2e323b"
TEXT = "#d8dce3"
DIM = "#8a909c"
ACCENT = "#37c6b0"  # output, wet, active
ACCENT2 = "#e0a341"  # input, live latent position
WARN = "#e5534b"

STYLESHEET = f"""
QWidget {{ background: {BG}; color: {TEXT}; font-family: "DejaVu Sans"; font-size: 11px; }}
QFrame#panel {{ background: {PANEL}; border: 1px solid {PANEL_EDGE}; border-radius: 6px; }}
QLabel#section {{ color: {DIM}; font-weight: bold; font-size: 10px; letter-spacing: 2px; background: transparent; }}
QLabel#title {{ color: {ACCENT}; font-weight: bold; font-size: 15px; letter-spacing: 3px; }}
QLabel#facts {{ color: {DIM}; background: transparent; }}
QLabel#status {{ color: {TEXT}; font-family: "DejaVu Sans Mono"; font-size: 11px; background: transparent; }}
QLabel#warn {{ color: {WARN}; background: transparent; }}
QLabel {{ background: transparent; }}
QComboBox, QDoubleSpinBox, QSpinBox, QLineEdit {{ background: #2a2e36; border: 1px solid {PANEL_EDGE};
    border-radius: 3px; padding: 2px 6px; min-height: 18px; }}
QComboBox QAbstractItemView {{ background: #2a2e36; selection-background-color: {ACCENT}; }}
QPushButton {{ background: #2c3039; border: 1px solid #3a3f4a; border-radius: 4px; padding: 3px 10px; }}
QPushButton:hover {{ background: #353a45; }}
QPushButton:checked {{ background: {ACCENT}; color: #0d1012; border-color: {ACCENT}; }}
QPushButton#record:checked {{ background: {WARN}; border-color: {WARN}; color: white; }}
QCheckBox {{ background: transparent; }}
QCheckBox::indicator {{ width: 11px; height: 11px; border: 1px solid #4a505c; border-radius: 2px; background: #2a2e36; }}
QCheckBox::indicator:checked {{ background: {ACCENT}; border-color: {ACCENT}; }}
QProgressBar {{ background: #2a2e36; border: 1px solid {PANEL_EDGE}; border-radius: 3px; text-align: center;
    max-height: 12px; font-size: 9px; }}
QProgressBar::chunk {{ background: {ACCENT}; }}
QScrollArea {{ border: none; background: transparent; }}
QToolTip {{ background: {PANEL}; color: {TEXT}; border: 1px solid {PANEL_EDGE}; }}
"""
