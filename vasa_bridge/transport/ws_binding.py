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
from vasa_bridge.transport.errors import SidecarConfigError
from vasa_bridge.transport.server import ClientState, ServerConfig, Session, Sidecar, log_event

HARD_CAP_FACTOR = 4      # messages above this many times max_message_bytes close the connection (1009)
CLOSE_TIMEOUT_S = 2.0
SLOW_CLOSE_TIMEOUT_S = 0.25  # a client too slow to drain its queue will not read a close frame either
SUBPROTOCOL = "vasa-bridge.v1"


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
        allowed = self.config.allow_origins
        if not allowed:
            return None
        origin = request.headers.get("Origin")
        if (origin is None and "null" in allowed) or (origin is not None and origin in allowed):
            return None
        log_event("ws_origin_refused", logging.WARNING, origin=origin)
        return connection.respond(HTTPStatus.FORBIDDEN, f"origin not allowed: {origin}\n")

    async def _handler(self, ws: ServerConnection) -> None:
        if self.config.ws_sndbuf_bytes:
            sock = ws.transport.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.config.ws_sndbuf_bytes)
        client = self.core.client_for(("ws", next(self._ids)), self)
        conn = self._conns[client] = _Conn(ws, self.config.ws_send_queue)
        sender = asyncio.create_task(self._sender(conn))
        try:
            async for data in ws:
                if isinstance(data, str):
                    reply = m.ProtocolError("bad_message", "send binary WebSocket messages (msgpack), not text"
                                            ).to_message()
                else:
                    reply = await self.core.handle_wire(client, lambda: m.decode(data, self.config.max_message_bytes))
                self.send_reply(client, reply)
                if client.close_after_reply:
                    await self._flush_then_close(conn, 1008, client.close_after_reply)
                    break
        except ConnectionClosed:
            pass
        finally:
            self.core.client_gone(client)
            self._conns.pop(client, None)
            if not sender.done():
                try:  # let queued replies and `end`s go out before the handler returns
                    await asyncio.wait_for(self._drain_queue(conn, sender), 1.0)
                except (asyncio.TimeoutError, ConnectionClosed):
                    pass
            sender.cancel()
            await asyncio.gather(sender, return_exceptions=True)

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
            task = asyncio.create_task(self._abort(conn, 1013, "client too slow: send queue full",
                                                   timeout_s=SLOW_CLOSE_TIMEOUT_S))
            self._close_tasks.add(task)
            task.add_done_callback(self._close_tasks.discard)

    async def _abort(self, conn: _Conn, code: int, reason: str, timeout_s: float = CLOSE_TIMEOUT_S) -> None:
        try:
            await asyncio.wait_for(conn.ws.close(code, reason), timeout_s)
        except Exception:  # the peer is gone or stalled: the close handshake cannot finish; abort the socket below
            pass
        if conn.ws.transport is not None:
            conn.ws.transport.abort()

    def send_reply(self, client: ClientState, msg: dict) -> None:
        self._enqueue(client, msg)

    def send_stream(self, client: ClientState, session: Session, msg: dict) -> None:
        self._enqueue(client, msg)

    def on_session_closed(self, session: Session) -> None:
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
