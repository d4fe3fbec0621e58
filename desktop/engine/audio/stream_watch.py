"""Whether the audio stream is alive: when a silent stream counts as not started or stalled, the messages that say
so, and when a stream that stopped is to be reopened."""

from __future__ import annotations

STALL_MESSAGE = "the audio device stopped delivering audio (disconnected or blocked?)"
NOT_STARTED = "the audio device has not started after 10 s (busy, or blocked by another program?)"
REOPEN_FAILED = "the audio stream stopped and could not be reopened (retrying every second): "


def stall_error(now: float, started_at: float, first_callback_at: float | None, last_callback: float) -> str:
    """The error for a stream with no callback 10 s after its start, or none for a while after it ran; else ''.

    PulseAudio may take a second or two to start a stream, and a GUI thread busy at start-up can hold the
    callback back as long: only a stream that ran for a while and then went silent has stopped."""
    if first_callback_at is None:
        return NOT_STARTED if now - started_at > 10.0 else ""
    grace = 2.0 if now - first_callback_at > 5.0 else 6.0
    return STALL_MESSAGE if now - last_callback > grace else ""


def wants_reopen(driver, error: str) -> bool:
    """A stream that died (the driver says so) or stalled, on a driver that can reopen it."""
    dead = driver is not None and getattr(driver, "error", "") != ""
    stuck = error == STALL_MESSAGE or error.startswith(REOPEN_FAILED)
    return (dead or stuck) and hasattr(driver, "reopen")
