"""Run the sidecar: in the foreground with signal handling (`vasa-bridge serve`), or in a background thread
(tests, `stream --local`, the demo)."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from vasa_bridge.runtime.backend import MotionBackend
from vasa_bridge.transport.errors import SidecarConfigError
from vasa_bridge.transport.config import ServerConfig
from vasa_bridge.transport.logs import log_event
from vasa_bridge.transport.server import Sidecar

if TYPE_CHECKING:
    from vasa_bridge.transport.rendering import RenderService


@dataclass(frozen=True)
class Endpoints:
    zmq_url: str | None        # request socket, e.g. tcp://127.0.0.1:5570
    zmq_stream_url: str | None  # stream socket
    ws_url: str | None         # e.g. ws://127.0.0.1:5572/
    instance: str


async def run_sidecar(config: ServerConfig, stop: asyncio.Event, backend: MotionBackend | None = None,
                      renderer: "RenderService | None" = None, on_ready=None) -> None:
    """Serve until `stop` is set, then drain: every session gets `end` (reason shutdown), sockets close."""
    from vasa_bridge.transport.ws_binding import WsBinding
    from vasa_bridge.transport.zmq_binding import ZmqBinding

    core = Sidecar(config, backend, renderer)
    zmq_binding = ws_binding = None
    try:
        if config.zmq_port is not None:
            zmq_binding = ZmqBinding(core, config)
            zmq_binding.start()
        if config.ws_port is not None:
            ws_binding = WsBinding(core, config)
            await ws_binding.start()
        core.start_tasks()
        endpoints = Endpoints(zmq_binding.request_endpoint if zmq_binding else None,
                              zmq_binding.stream_endpoint if zmq_binding else None,
                              ws_binding.url if ws_binding else None, core.instance)
        log_event("ready", zmq=endpoints.zmq_url, zmq_stream=endpoints.zmq_stream_url, ws=endpoints.ws_url,
                  backend=core.backend.name, instance=core.instance)
        if on_ready is not None:
            on_ready(endpoints, core)
        await stop.wait()
        log_event("draining", sessions=len(core.sessions))
        await core.drain()
    finally:
        if ws_binding is not None:
            await ws_binding.close()
        if zmq_binding is not None:
            await zmq_binding.close()
        await core.stop_tasks()
        log_event("stopped")


def _announce(e: Endpoints) -> None:
    print(f"vasa-bridge serve: zmq {e.zmq_url} stream {e.zmq_stream_url} ws {e.ws_url}", file=sys.stderr,
          flush=True)


def serve_forever(config: ServerConfig, backend: MotionBackend | None = None,
                  renderer: "RenderService | None" = None,
                  announce=_announce) -> int:
    """Foreground server: SIGINT/SIGTERM drain the sessions and exit 0."""

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run_sidecar(config, stop, backend, renderer, on_ready=lambda e, _core: announce(e))

    asyncio.run(main())
    return 0


class BackgroundServer:
    """A sidecar on its own thread and event loop. Use as a context manager; `.endpoints` once started."""

    def __init__(self, config: ServerConfig = ServerConfig(zmq_port=0, zmq_stream_port=0, ws_port=0),
                 backend: MotionBackend | None = None, renderer: "RenderService | None" = None) -> None:
        self.config, self.backend, self.renderer = config, backend, renderer
        self.endpoints: Endpoints | None = None
        self.core: Sidecar | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="vasa-sidecar", daemon=True)

    def _run(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()

            def ready(endpoints: Endpoints, core: Sidecar) -> None:
                self.endpoints, self.core = endpoints, core
                self._ready.set()
            await run_sidecar(self.config, self._stop, self.backend, self.renderer, on_ready=ready)
        try:
            asyncio.run(main())
        except BaseException as e:  # reported to the starting thread
            self._error = e
        finally:
            self._ready.set()

    def start(self, timeout_s: float = 10.0) -> "BackgroundServer":
        self._thread.start()
        if not self._ready.wait(timeout_s):
            raise SidecarConfigError("the sidecar did not start in time")
        if self._error is not None:
            raise self._error
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        if self._loop is not None and self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout_s)

    @property
    def alive(self) -> bool:
        """The server's thread still runs (a cluster replica's health check)."""
        return self._thread.is_alive()

    def call(self, fn, timeout_s: float = 5.0):
        """fn(core) run on the server's loop thread (safe access to its state), e.g. for tests and status."""
        async def run():
            return fn(self.core)
        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout_s)

    def __enter__(self) -> "BackgroundServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class SubprocessServer:
    """A sidecar in a child process (its own interpreter and GIL), optionally pinned to some CPUs: what timing
    tests and the benchmark measure, so client work in the measuring process does not slow the server."""

    def __init__(self, config: ServerConfig = ServerConfig(zmq_port=0, zmq_stream_port=0, ws_port=0),
                 cpus: set[int] | None = None, render: bool = False) -> None:
        """`render`: plug in the portrait renderer (default RenderConfig), as `serve --render` does."""
        self.config, self.cpus, self.render = config, cpus, render
        self.endpoints: Endpoints | None = None
        self.proc: subprocess.Popen | None = None

    def start(self, timeout_s: float = 20.0) -> "SubprocessServer":
        import os
        import select

        repo = str(Path(__file__).resolve().parents[2])
        env = {**os.environ, "PYTHONPATH": repo + os.pathsep + os.environ.get("PYTHONPATH", "")}
        self.proc = subprocess.Popen([sys.executable, "-m", "vasa_bridge.transport.runner",
                                      json.dumps(asdict(self.config))] + (["--render"] if self.render else []),
                                     stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True, env=env)
        if self.cpus:
            os.sched_setaffinity(self.proc.pid, self.cpus)
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout_s)
        line = self.proc.stdout.readline() if ready else ""
        if not line:
            self.stop()
            raise SidecarConfigError("the sidecar subprocess did not start")
        self.endpoints = Endpoints(**json.loads(line))
        return self

    def cpu_s(self) -> float:
        """CPU seconds (user + system) the server process has used so far (Linux /proc)."""
        import os

        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self, timeout_s: float = 10.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def __enter__(self) -> "SubprocessServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


if __name__ == "__main__":  # the child of SubprocessServer: config JSON in argv[1], endpoints JSON on stdout
    _config = ServerConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in json.loads(sys.argv[1]).items()})
    _renderer = None
    if "--render" in sys.argv[2:]:
        from vasa_bridge.transport.rendering import RenderService

        _renderer = RenderService()
    sys.exit(serve_forever(_config, renderer=_renderer, announce=lambda e: print(json.dumps(asdict(e)), flush=True)))
