"""WebSocket binding (SPEC.md §9): one connection per client, binary msgpack messages, bounded send queue."""

from __future__ import annotations

import asyncio
import itertools
import logging
import socket
from http import HTTPStatus

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request

from vasa_bridge import protocol as m
from vasa_bridge.transport.config import ServerConfig, origin_allowed
from vasa_bridge.transport.errors import SidecarConfigError
from vasa_bridge.transport.logs import log_event
from vasa_bridge.transport.server import Sidecar
from vasa_bridge.transport.state import ClientState, SessionState

HARD_CAP_FACTOR = 4      # messages above this many times max_message_bytes close the connection (1009)
CLOSE_TIMEOUT_S = 2.0
SLOW_CLOSE_TIMEOUT_S = 0.25  # a client too slow to drain its queue will not read a close frame either
SUBPROTOCOL = "vasa-bridge.v1"


def _text_message() -> None:
    raise m.ProtocolError("bad_message", "send binary WebSocket messages (msgpack), not text")


class _Conn:
    def __init__(self, ws: ServerConnection, queue_size: int) -> None:
        self.ws = ws
        self.queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=queue_size)
        self.closing = False


class WsBinding:
    def __init__(self, core: Sidecar, config: ServerConfig) -> None:
        self.core, self.config = core, config
        self._server = None
        self._conns: dict[ClientState, _Conn] = {}
        self._ids = itertools.count(1)
        self._close_tasks: set[asyncio.Task] = set()
        self.url = ""

    async def start(self) -> None:
        c = self.config
        try:
            self._server = await serve(
                self._handler, c.host, c.ws_port or 0, process_request=self._check_origin,
                select_subprotocol=lambda _conn, offered: SUBPROTOCOL if SUBPROTOCOL in offered else None,
                compression=None,  # deflate costs CPU per message and barely shrinks float frames
                max_size=HARD_CAP_FACTOR * c.max_message_bytes, max_queue=64, close_timeout=CLOSE_TIMEOUT_S,
                ping_interval=20, ping_timeout=20, logger=logging.getLogger("vasa_bridge.sidecar.websockets"))
        except OSError as e:
            raise SidecarConfigError(f"cannot listen for WebSocket on {c.host}:{c.ws_port}: {e}") from None
        host, port = self._server.sockets[0].getsockname()[:2]
        self.url = f"ws://{'[' + host + ']' if ':' in host else host}:{port}/"
        log_event("ws_listening", url=self.url, token=c.token is not None, origins=list(c.allow_origins))

    def _check_origin(self, connection: ServerConnection, request: Request):
        origin = request.headers.get("Origin")
        if origin_allowed(origin, self.config.allow_origins):
            return None
        log_event("ws_origin_refused", logging.WARNING, origin=origin)
        return connection.respond(HTTPStatus.FORBIDDEN, f"origin not allowed: {origin}; start the server with "
                                  f"--allow-origin {origin} to admit pages from it\n")

    async def _handler(self, ws: ServerConnection) -> None:
        if self.config.ws_sndbuf_bytes:
            sock = ws.transport.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.config.ws_sndbuf_bytes)
        client = self.core.client_for(("ws", next(self._ids)), self)
        conn = self._conns[client] = _Conn(ws, self.config.ws_send_queue)
        sender = asyncio.create_task(self._sender(conn))
        hello_timer = asyncio.get_running_loop().call_later(self.config.hello_timeout_s, self._hello_timeout, client)
        max_bytes = self.config.max_message_bytes
        try:
            async for data in ws:
                if conn.closing:
                    break
                if isinstance(data, str):
                    self.core.submit(client, _text_message, len(data), lambda: None)
                else:
                    self.core.submit(client, lambda data=data: m.decode(data, max_bytes), len(data),
                                     lambda data=data: m.peek_id(data))
                # A buffered message does not suspend `async for`: yield after each one, so one client's flood
                # cannot keep the other clients' tasks waiting.
                await asyncio.sleep(0)
        except ConnectionClosed:
            pass
        finally:
            hello_timer.cancel()
            self.core.client_gone(client)
            self._conns.pop(client, None)
            if not sender.done():
                try:  # let queued replies and `end`s go out before the handler returns
                    await asyncio.wait_for(self._drain_queue(conn, sender), 1.0)
                except (asyncio.TimeoutError, ConnectionClosed):
                    pass
            sender.cancel()
            await asyncio.gather(sender, return_exceptions=True)

    def _hello_timeout(self, client: ClientState) -> None:
        conn = self._conns.get(client)
        if conn is not None and not client.hello_done and not conn.closing:
            log_event("ws_hello_timeout", logging.WARNING)
            self._close_later(conn, 1008, f"no hello within {self.config.hello_timeout_s:g} s")

    def _close_later(self, conn: _Conn, code: int, reason: str, flush: bool = True) -> None:
        task = asyncio.create_task(self._flush_then_close(conn, code, reason) if flush else
                                   self._abort(conn, code, reason, timeout_s=SLOW_CLOSE_TIMEOUT_S))
        self._close_tasks.add(task)
        task.add_done_callback(self._close_tasks.discard)

    async def _drain_queue(self, conn: _Conn, sender: asyncio.Task | None = None) -> None:
        while not conn.queue.empty() and not conn.closing and not (sender and sender.done()):
            await asyncio.sleep(0.005)

    async def _flush_then_close(self, conn: _Conn, code: int, reason: str) -> None:
        try:
            await asyncio.wait_for(self._drain_queue(conn), 1.0)
        except asyncio.TimeoutError:
            pass
        conn.closing = True
        await conn.ws.close(code, reason)

    async def _sender(self, conn: _Conn) -> None:
        try:
            while True:
                data = await conn.queue.get()
                await conn.ws.send(data)  # waits when the client reads slowly; only this connection waits
        except ConnectionClosed:
            pass

    def _enqueue(self, client: ClientState, msg: dict) -> None:
        conn = self._conns.get(client)
        if conn is None or conn.closing:
            return
        try:
            conn.queue.put_nowait(m.encode(msg))
        except asyncio.QueueFull:
            # A reader this slow would make the server buffer without bound: drop it, never wait for it.
            conn.closing = True
            log_event("ws_slow_client_dropped", logging.WARNING, client=client.name, queue=conn.queue.qsize())
            self.core.client_gone(client)
            self._close_later(conn, 1013, "client too slow: send queue full", flush=False)

    async def _abort(self, conn: _Conn, code: int, reason: str, timeout_s: float = CLOSE_TIMEOUT_S) -> None:
        try:
            await asyncio.wait_for(conn.ws.close(code, reason), timeout_s)
        except Exception:  # the peer is gone or stalled: the close handshake cannot finish; abort the socket below
            pass
        if conn.ws.transport is not None:
            conn.ws.transport.abort()

    def send_reply(self, client: ClientState, msg: dict) -> None:
        self._enqueue(client, msg)
        conn = self._conns.get(client)
        if client.close_after_reply and conn is not None and not conn.closing:
            self._close_later(conn, 1008, client.close_after_reply)  # the reply goes out first

    def disconnect(self, client: ClientState, reason: str) -> None:
        """A flooder (SPEC §9.4, §10): closed with 1008; its sessions end with it."""
        conn = self._conns.get(client)
        self.core.client_gone(client)
        if conn is not None and not conn.closing:
            conn.closing = True
            log_event("ws_client_disconnected", logging.WARNING, client=client.name, reason=reason)
            self._close_later(conn, 1008, reason[:120], flush=False)

    def send_stream(self, client: ClientState, session: SessionState, msg: dict) -> None:
        self._enqueue(client, msg)

    def on_session_closed(self, session: SessionState) -> None:
        pass

    async def close(self) -> None:
        """Server shutdown: tell every client (close code 1001) and stop listening."""
        for conn in list(self._conns.values()):
            try:
                await asyncio.wait_for(self._drain_queue(conn), 0.5)
            except asyncio.TimeoutError:
                pass
            conn.closing = True
            task = asyncio.create_task(self._abort(conn, 1001, "server shutting down"))
            self._close_tasks.add(task)
        if self._close_tasks:
            await asyncio.gather(*self._close_tasks, return_exceptions=True)
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
