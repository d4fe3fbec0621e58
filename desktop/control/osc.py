"""OSC over UDP: a server that writes any registry address it receives, and a sender that streams the live
latent position out (python-osc).

In: ``/latentsynth/<...>`` with one argument sets that parameter (float, int, or a string for the mode);
``/latentsynth/reset`` restores every default. Unknown addresses, missing or bad arguments and packets that are not
valid UTF-8 are logged in one line and ignored, never raised into the server thread; a message repeated in a flood is
logged at most once a second, with how many like it were held back (``RateLimitedLog``). Out (``OscSender``): ``/latentsynth/out/latent/<level> f f ...`` (the
input's position along each PCA axis in std units) and ``/latentsynth/out/level_db f`` at ``rate_hz``.
"""

from __future__ import annotations

import collections
import threading
import time
from typing import Callable

from ..engine.parameters.params import PREFIX, ParamError, ParamRegistry

DEFAULT_PORT = 9000


class RateLimitedLog:
    """Passes each distinct message to ``log`` at most once per ``interval`` seconds, and at most ``burst`` lines of
    any kind per interval; what it holds back is counted and said with the next line it passes (a flood of NaN
    over OSC printed 1,937 lines). ``flush`` says what is still held. Thread-safe (the server handles packets on
    threads of its own)."""

    def __init__(
        self,
        log: Callable[[str], None],
        interval: float = 1.0,
        burst: int = 10,
        clock: Callable[[], float] | None = None,
    ):
        self.log, self.interval, self.burst = log, float(interval), int(burst)
        self.clock = clock or time.monotonic
        self._last: dict[str, float] = {}  # message -> when it was last passed
        self._held: dict[str, int] = {}  # message -> repeats held back since
        self._window = (float("-inf"), 0)  # (start of the current interval, lines passed in it)
        self._lock = threading.Lock()

    def __call__(self, message: str) -> None:
        now = self.clock()
        with self._lock:
            start, passed = self._window
            if now - start >= self.interval:
                start, passed = now, 0
            last = self._last.get(message)
            if (last is not None and now - last < self.interval) or passed >= self.burst:
                self._held[message] = self._held.get(message, 0) + 1
                return
            self._window = (start, passed + 1)
            self._last[message] = now
            held = self._held.pop(message, 0)
            if len(self._last) > 1000:  # a flood of distinct messages: forget the old ones
                self._last = {m: t for m, t in self._last.items() if now - t < self.interval}
            # inside the lock: two server threads printing at once ran their lines together on stderr
            self.log(message + (f" (and {held} more like it)" if held else ""))

    def flush(self) -> None:
        with self._lock:
            held, self._held = self._held, {}
            for message, n in held.items():
                self.log(message + (f" (and {n - 1} more like it)" if n > 1 else ""))


class OscServer:
    """Listens on ``host:port`` (port 0: any free port, read ``port`` after ``start``)."""

    def __init__(
        self,
        registry: ParamRegistry,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        log: Callable[[str], None] | None = None,
    ):
        self.registry = registry
        self.host, self.port = host, int(port)
        self.log = RateLimitedLog(log or (lambda msg: None))
        self.errors: collections.deque[str] = collections.deque(maxlen=100)
        self.received = 0
        self._server = None
        self._thread: threading.Thread | None = None

    def start(self) -> "OscServer":
        from pythonosc.dispatcher import Dispatcher
        from pythonosc.osc_server import ThreadingOSCUDPServer

        refuse = self._refuse

        class CheckedDispatcher(Dispatcher):
            def call_handlers_for_packet(self, data: bytes, client_address) -> list:
                try:
                    return super().call_handlers_for_packet(data, client_address)
                except UnicodeDecodeError:  # python-osc decodes the address and string arguments unguarded
                    refuse(f"a packet from {client_address[0]}: its address or a text argument is not valid UTF-8")
                except Exception as exc:  # socketserver would print a 27-line traceback for it
                    refuse(f"a packet from {client_address[0]}: {type(exc).__name__}: {exc}")
                return []

        d = CheckedDispatcher()
        d.set_default_handler(self._handle)
        try:
            self._server = ThreadingOSCUDPServer((self.host, self.port), d)
        except OSError as exc:
            raise OSError(f"OSC: cannot listen on {self.host}:{self.port} ({exc.strerror or exc})") from None
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="osc-server", daemon=True)
        self._thread.start()
        return self

    def _refuse(self, msg: str) -> None:
        self.errors.append(msg)
        self.log(f"OSC: ignored {msg}")

    def _handle(self, address: str, *args) -> None:
        self.received += 1
        try:
            if address == f"{PREFIX}/reset":
                for a, p in self.registry.params.items():
                    self.registry.set(a, p.default)
                return
            if not address.startswith(PREFIX + "/"):
                return self._refuse(f"{address}: not a LatentSynth address")
            if len(args) != 1:
                return self._refuse(f"{address}: expected one argument, got {len(args)}")
            self.registry.set(address, args[0])
        except ParamError as exc:
            self._refuse(str(exc))
        except Exception as exc:  # a remote message must never take the server down
            self._refuse(f"{address}: {type(exc).__name__}: {exc}")

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=2)
            self._thread = None
        self.log.flush()


class OscSender:
    """Sends the engine's live latent position and output level to ``host:port`` every 1/rate_hz seconds."""

    def __init__(self, snapshot: Callable[[], object], host: str, port: int, rate_hz: float = 30.0):
        from pythonosc.udp_client import SimpleUDPClient

        self.snapshot = snapshot
        self.client = SimpleUDPClient(host, int(port))
        self.period = 1.0 / max(float(rate_hz), 1.0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="osc-sender", daemon=True)
        self.sent = 0

    def start(self) -> "OscSender":
        self._thread.start()
        return self

    def send_once(self) -> None:
        import math

        snap = self.snapshot()
        for level, coords in (getattr(snap, "latent_positions", None) or {}).items():
            self.client.send_message(f"{PREFIX}/out/latent/{level}", [float(v) for v in coords])
        peak = float(getattr(snap, "out_peak", 0.0))
        self.client.send_message(f"{PREFIX}/out/level_db", 20 * math.log10(max(peak, 1e-6)))
        self.sent += 1

    def _run(self) -> None:
        while not self._stop.wait(self.period):
            try:
                self.send_once()
            except OSError:
                time.sleep(self.period)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
