"""The app's scripted end, for tests, benchmarks and screenshots: ``--screenshot`` grabs the window shortly before
quitting, ``--quit-after`` closes it and prints one JSON line of statistics (with the start-up moments)."""

from __future__ import annotations

import json


def startup_report(clock) -> dict:
    """Seconds since launch of each start-up moment, and the one the issue measures: first sound after the
    window was shown."""
    m = dict(clock.marks)
    if "first_sound" in m and "window_shown" in m:
        m["sound_after_window_s"] = round(m["first_sound"] - m["window_shown"], 3)
    return m


class ScriptedEnd:
    """Schedules the screenshot and the quit on Qt timers; ``save_screenshot`` writes a grabbed picture once the
    audio has stopped (also after the user closed the window)."""

    def __init__(self, args, app, window, engine, remote, clock):
        self.args, self.app, self.window, self.engine, self.remote, self.clock = (
            args,
            app,
            window,
            engine,
            remote,
            clock,
        )
        self._pixmap = None
        self.audio_error = ""  # set when no device would play: the JSON's "error" says it, as stderr does

    def schedule(self) -> None:
        from PySide6.QtCore import QTimer

        args = self.args
        if args.screenshot:
            when = max(0.5, (args.quit_after or 3.0) - 0.7)
            QTimer.singleShot(int(when * 1000), self._grab)
        if args.quit_after is not None:
            QTimer.singleShot(int(args.quit_after * 1000), self._finish)

    def _grab(self) -> None:
        # grabbing lets the audio threads run, encoding a PNG holds the GIL for ~50 ms (an underrun): it waits for
        # the audio to stop
        self._pixmap = self.window.grab()

    def save_screenshot(self) -> None:
        pixmap, self._pixmap = self._pixmap, None
        if pixmap is not None:
            pixmap.save(self.args.screenshot)

    def _finish(self) -> None:
        from .ui.qtfix import keep_none_alive

        window, engine, clock, remote = self.window, self.engine, self.clock, self.remote
        keep_none_alive()
        rec = engine.recorder
        rec_info = {"record": str(rec.path), "record_seconds": round(rec.seconds, 2)} if rec else {}
        window.close()  # stops the recording and the audio
        self.save_screenshot()
        summary = engine.summary()
        summary["error"] = summary["error"] or window.record_error or window.browser.load_error or self.audio_error
        for name, at in (("first_callback", engine.first_callback_at), ("first_sound", engine.first_sound_at)):
            if at is not None:
                clock.mark(name, at)
        osc = {"osc_port": remote.osc.port, "osc_received": remote.osc.received} if remote.osc else {}
        print(json.dumps({**summary, **rec_info, **osc, "startup": startup_report(clock)}), flush=True)
        self.app.quit()
