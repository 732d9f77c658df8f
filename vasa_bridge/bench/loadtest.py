"""Load and abuse test of a sidecar (`vasa-bridge loadtest`): how many real-time sessions it sustains, and their
lateness, with and without a client flooding it.

A session is one speaking character streamed in real time (40 ms chunks paced on the audio clock). A run of n
sessions is *sustained* when every session receives all its frames, none of its audio was refused for good, and
the 95th percentile of chunk lateness (chunk sent → its frames received) stays within `p95_limit_ms`. The
flooder is another process (`python -m vasa_bridge.bench.loadtest --flood BINDING URL SECONDS`) that says
hello and then sends `status` requests as fast as its socket takes them, never reading the replies on ZeroMQ.
"""

from __future__ import annotations

import asyncio
import math
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np

SAMPLE_RATE_HZ = 16_000
CHUNK_MS = 40.0
SESSIONS_PER_CLIENT = 32


@dataclass(frozen=True)
class LoadStep:
    sessions: int
    flooder: bool
    p95_lateness_ms: float
    max_lateness_ms: float
    complete: bool               # every session got every frame
    refused_opens: int           # opens refused (session_limit / overloaded)
    flooder_requests: int        # requests the flooder got out (0 without one)

    def sustained(self, p95_limit_ms: float) -> bool:
        return self.complete and self.refused_opens == 0 and self.p95_lateness_ms <= p95_limit_ms


async def _sessions(url: str, stream_url: str | None, n: int, seconds: float) -> tuple[list, int]:
    from vasa_bridge.audio.synthetic import syllable_bursts
    from vasa_bridge.client.core import AsyncClient
    from vasa_bridge.client.stream import stream_audio
    from vasa_bridge.protocol import ServerError

    clients = [await AsyncClient.connect(url, stream_url=stream_url, timeout_s=30.0)
               for _ in range(math.ceil(n / SESSIONS_PER_CLIENT))]
    refused = 0

    async def one(i: int):
        nonlocal refused
        try:
            return await stream_audio(clients[i // SESSIONS_PER_CLIENT], syllable_bursts(seconds, seed=i),
                                      SAMPLE_RATE_HZ, speed=1.0, chunk_ms=CHUNK_MS, timeout_s=30.0)
        except ServerError as e:
            if e.code not in ("session_limit", "overloaded"):
                raise
            refused += 1
            return None
    try:
        results = await asyncio.gather(*(one(i) for i in range(n)))
    finally:
        for c in clients:
            await c.close()
    return [r for r in results if r is not None], refused


@contextmanager
def flooding(binding: str, url: str, seconds: float) -> Iterator[subprocess.Popen]:
    """A flooder process for the duration of the block; its stdout ends with the number of requests sent."""
    proc = subprocess.Popen([sys.executable, "-m", "vasa_bridge.bench.loadtest", "--flood", binding, url,
                             str(seconds)], stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(1.0)  # the flood is under way before the measured sessions start
        yield proc
    finally:
        try:
            proc.wait(seconds + 10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run_step(url: str, stream_url: str | None, n: int, seconds: float, flood_url: str | None = None,
             flood_binding: str = "zmq") -> LoadStep:
    """n concurrent real-time sessions of `seconds` audio, with a flooder on `flood_url` when given."""
    def measure() -> tuple[list, int]:
        return asyncio.run(_sessions(url, stream_url, n, seconds))

    sent = 0
    if flood_url is None:
        results, refused = measure()
    else:
        with flooding(flood_binding, flood_url, seconds + 3.0) as proc:
            results, refused = measure()
        sent = int((proc.stdout.read() or "0").split()[-1] if proc.stdout else 0)
    lateness = np.concatenate([r.chunk_latency_ms for r in results]) if results else np.zeros(1)
    complete = all(len(r.clip) == math.ceil(seconds * 25) for r in results)
    return LoadStep(n, flood_url is not None, float(np.percentile(lateness, 95)), float(lateness.max()), complete,
                    refused, sent)


def ramp(url: str, stream_url: str | None, steps: tuple[int, ...], seconds: float, p95_limit_ms: float,
         flood_url: str | None = None, flood_binding: str = "zmq",
         log: Callable[[str], None] = print) -> tuple[int, list[LoadStep]]:
    """Run `steps` session counts in order until one is not sustained; (largest sustained count, every step)."""
    best, done = 0, []
    for n in steps:
        step = run_step(url, stream_url, n, seconds, flood_url, flood_binding)
        done.append(step)
        log(f"{'with' if step.flooder else 'no  '} flooder  {n:4d} sessions: p95 lateness {step.p95_lateness_ms:7.1f} "
            f"ms, max {step.max_lateness_ms:7.1f} ms, all frames {step.complete}, opens refused "
            f"{step.refused_opens}" + (f", flooder sent {step.flooder_requests}" if step.flooder else ""))
        if not step.sustained(p95_limit_ms):
            break
        best = n
    return best, done


# ---- the flooder (run as a child process) ---------------------------------------------------------------------
def flood(binding: str, url: str, seconds: float) -> int:
    """Say hello, then send `status` as fast as the socket takes it for `seconds`; the number sent."""
    import msgpack

    from vasa_bridge.protocol import protocol_version

    hello = msgpack.packb({"type": "hello", "id": 0, "protocol": protocol_version(), "client": "loadtest-flooder"})
    end, sent = time.monotonic() + seconds, 0
    if binding == "zmq":
        import zmq

        ctx = zmq.Context()
        sock = ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(url)
        sock.send(hello)
        while time.monotonic() < end:
            for _ in range(100):
                try:
                    sock.send(msgpack.packb({"type": "status", "id": sent % 2**32}), zmq.NOBLOCK)
                    sent += 1
                except zmq.Again:
                    time.sleep(0.0005)
        sock.close(0)
        ctx.term()
        return sent
    import threading

    from websockets.sync.client import connect

    ws = connect(url, max_size=None)

    def drain() -> None:  # read the replies, so the server must serve (or refuse) every request
        try:
            while True:
                ws.recv()
        except Exception:  # closed: by the server (as a flooder) or by us
            pass
    threading.Thread(target=drain, daemon=True).start()
    ws.send(hello)
    try:
        while time.monotonic() < end:
            ws.send(msgpack.packb({"type": "status", "id": sent % 2**32}))
            sent += 1
    except Exception:  # disconnected as a flooder
        pass
    ws.close()
    return sent


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--flood":
        print(flood(sys.argv[2], sys.argv[3], float(sys.argv[4])), flush=True)
        sys.exit(0)
    sys.exit("usage: python -m vasa_bridge.bench.loadtest --flood zmq|ws URL SECONDS")
