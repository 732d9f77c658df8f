"""Live Link Face forwarding (SPEC.md §4.2 `open.livelink`): a session's motion frames go on to Unreal as UDP
packets, resampled to 60 fps and paced in real time (interop/live_link_pacer.py), exactly as
`vasa-bridge stream --livelink` sends them from the client side.

Every session sends to the one address the server was started with (`serve --livelink HOST:PORT`); a client
names only its subject, never a destination, so a client cannot make the server send packets anywhere else.

The worker thread pushes a session's frames right after the motion step that made them (as it renders images),
so a client pushing a file faster than real time does not stall the event loop with resampling. Each forwarding
session has its own pacer thread that sleeps until each packet is due.
"""

from __future__ import annotations

import threading

import numpy as np

from vasa_bridge import protocol as m
from vasa_bridge.interop.live_link_pacer import LiveLinkPacer
from vasa_bridge.interop.live_link_udp import RATE_FPS, LiveLinkSender
from vasa_bridge.transport.logs import log_event

MAX_SUBJECT_BYTES = 255
PACER_BUFFER_MS = 100.0   # first packet this long after the first motion: batches then arrive before they are due


def check_subject(subject: str) -> str:
    """open.livelink.subject, or ProtocolError(bad_request)."""
    size = len(subject.encode("utf-8"))
    if not 1 <= size <= MAX_SUBJECT_BYTES:
        raise m.ProtocolError("bad_request", f"livelink.subject must be 1..{MAX_SUBJECT_BYTES} UTF-8 bytes, got "
                              f"{size}: name the Live Link subject Unreal should list, e.g. \"MetaHuman_Ava\"")
    return subject


class SessionLiveLink:
    """One session's Live Link output: `push` frames as they are made, then `finish` (end of audio: the rest
    goes out in real time), and `session_closed` when the session ends."""

    def __init__(self, target: tuple[str, int], subject: str, motion_fps: float,
                 buffer_ms: float = PACER_BUFFER_MS) -> None:
        self.subject = subject
        self._sender = LiveLinkSender(target[0], target[1], subject_name=subject)
        self._pacer = LiveLinkPacer(self._sender, motion_fps, buffer_ms)
        self._stopping = False
        self._closers: list[threading.Thread] = []

    def describe(self) -> dict:
        """open_ok.livelink."""
        return {"subject": self.subject, "fps": float(RATE_FPS)}

    def push(self, frames: np.ndarray) -> None:
        """(n, 60) motion frames of the session, in order (worker thread)."""
        if not self._stopping:
            self._pacer.push(frames)

    def finish(self) -> None:
        """The session's last frame is in: a thread sends the rest as it falls due, then closes the socket."""
        if not self._stopping:
            self._stopping = True
            self._start_closer(drain=True)

    def session_closed(self) -> None:
        """The session ended: a line that finished keeps going out to its end; one cut short stops now."""
        if not self._stopping:
            self.abandon()

    def abandon(self) -> None:
        """Stop now (session cut short, server stopping), also a finishing line: queued packets are dropped.
        Returns at once; `join` waits for the threads."""
        self._stopping = True
        self._start_closer(drain=False)

    def join(self, timeout_s: float | None = None) -> None:
        for thread in list(self._closers):
            thread.join(timeout_s)

    def _start_closer(self, drain: bool) -> None:
        # LiveLinkPacer.close joins the pacer thread, which may sleep until its next packet is due (up to
        # PACER_BUFFER_MS): never on the event loop. An abandon during a drain makes the drain stop too.
        thread = threading.Thread(target=self._close, args=(drain,), name="livelink-close", daemon=True)
        self._closers.append(thread)
        thread.start()

    def _close(self, drain: bool) -> None:
        sent = self._pacer.close(drain=drain)
        self._sender.close()
        if drain:
            log_event("livelink_done", subject=self.subject, packets=sent, send_errors=self._pacer.send_errors,
                      **({"error": self._pacer.last_error} if self._pacer.send_errors else {}))
