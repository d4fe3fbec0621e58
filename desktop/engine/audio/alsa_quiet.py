"""alsa-lib's own error printing, turned off: it writes from C straight onto stderr.

Under load an underrun makes PortAudio's ALSA backend call ``snd_pcm_recover``, and alsa-lib prints
"ALSA lib pcm.c:...:(snd_pcm_recover) underrun occurred" in the middle of the user's terminal (the full test suite
caught it at load 8). The engine counts and reports underruns itself (the status line, the JSON report); what
PortAudio cannot open still comes back as an exception with its message. So the library's printing is noise:
``silence()`` installs an error handler that drops it, once per process. A machine without libasound (macOS,
Windows) has nothing to silence.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

# void (*snd_lib_error_handler_t)(const char *file, int line, const char *function, int err, const char *fmt, ...)
_HANDLER = ctypes.CFUNCTYPE(None, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p)
_installed: list = []  # the handler, kept alive for the process's life (alsa-lib holds a bare pointer to it)


def _drop(file, line, function, err, fmt) -> None:
    return None


def silence() -> bool:
    """Install the dropping handler; True when alsa-lib is here and now quiet. Idempotent."""
    if _installed:
        return True
    if not sys.platform.startswith("linux"):
        return False
    name = ctypes.util.find_library("asound") or "libasound.so.2"
    try:
        lib = ctypes.CDLL(name)
    except OSError:
        return False
    handler = _HANDLER(_drop)
    lib.snd_lib_error_set_handler(handler)
    _installed.append(handler)
    return True
