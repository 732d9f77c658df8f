class_name VasaBridgeClient
extends Node
## Client of the vasa_bridge sidecar over its WebSocket binding (protocol/SPEC.md §9): one binary msgpack message
## per logical message. `WebSocketPeer` works the same in desktop, mobile and web exports (the web has no raw TCP,
## so there is no ZeroMQ here).
##
## Add it to the scene (or let VasaBridgeFace make one); it connects, says hello, and queues requests until the
## server has answered. Every request method returns the request id; replies come as signals. When the connection
## drops it reconnects with exponential back-off; the server ends a connection's sessions when it drops (§9.5), so
## open sessions are reported ended with reason "connection_lost". VasaBridgeFace then opens its line's session
## again and resends the audio not yet answered with motion (see face.gd), so a line survives a lost server.

## The WebSocket is open and the server accepted our hello (`info` is hello_ok).
signal server_ready(info: Dictionary)
signal disconnected(code: int, reason: String)
## Any `*_ok` reply, by request id.
signal replied(request_id: int, message: Dictionary)
signal session_opened(request_id: int, session: String, info: Dictionary)
signal motion_received(session: String, batch: VasaProtocol.MotionBatch)
## A `render` batch (rendered frames, SPEC.md §5.2) as decoded.
signal render_received(session: String, message: Dictionary)
## The session's stream ended: reason from SPEC.md §5.3, or "connection_lost".
signal session_ended(session: String, reason: String, message: Dictionary)
## A protocol `error` reply, an undecodable or invalid server message ("bad_message"), a request without reply
## ("timeout"), or a connection that failed before the server accepted our hello ("connection_failed"; a lost
## connection after that is `disconnected`). `details` holds the error message, if any.
signal error_received(code: String, message: String, details: Dictionary)
## The connection failed or dropped; the next attempt starts in `delay_s` (0 after a working connection dropped,
## then exponential back-off).
signal reconnect_scheduled(attempt: int, delay_s: float)

enum State { IDLE, CONNECTING, HELLO, READY, WAITING_TO_RECONNECT }

@export var url: String = "ws://127.0.0.1:5572/"
## Access token, when the sidecar was started with one (SPEC.md §11).
@export var token: String = ""
@export var connect_on_ready: bool = true
@export var reconnect: bool = true
@export var reconnect_min_s: float = 0.5
@export var reconnect_max_s: float = 8.0
## A request without a reply after this long is reported as error "timeout" (SPEC.md §8.5 suggests 5 s; the
## first `open` of a fresh sidecar may take seconds while its backend loads).
@export var request_timeout_s: float = 10.0
## Timeout of an `open` that asks for rendered frames: the server first prepares the portrait (face detection
## and mesh, seconds on a small CPU).
@export var render_open_timeout_s: float = 60.0
## Resend an audio chunk the server dropped with `rate_limited` / `busy` after its retry_after_ms.
@export var resend_dropped_audio: bool = true

var state: State = State.IDLE
## The server's hello_ok once connected (limits, fps, outputs, ...).
var server_info: Dictionary = {}
var reconnect_attempts: int = 0

var _peer: WebSocketPeer = null
var _next_id: int = 1
var _pending: Dictionary = {}  # request id -> {"message": Dictionary, "sent_ms": int}
var _waiting: Array = []  # requests made before hello_ok
var _resend: Array = []  # {"at_ms": int, "message": Dictionary}
# One audio request per session on the wire at a time, the rest queued in order: a chunk the server refuses is
# resent before any later chunk of its session, so the audio clock neither shortens nor reorders (SPEC.md §4.3).
var _audio_in_flight: Dictionary = {}  # session id -> id of its audio request sent (or waiting to be resent)
var _audio_queue: Dictionary = {}  # session id -> Array of audio requests waiting their turn
var _sessions: Dictionary = {}  # session id -> next expected seq
var _backoff_s: float = 0.0
var _retry_at_ms: int = 0
var _last_stream_ms: int = 0


func _ready() -> void:
	if connect_on_ready:
		connect_to_server()


func _process(_delta: float) -> void:
	poll()


func _exit_tree() -> void:
	if _peer != null:
		_peer.close(1000, "bye")


func is_ready() -> bool:
	return state == State.READY


func connect_to_server(server_url: String = "") -> void:
	if server_url != "":
		url = server_url
	_peer = WebSocketPeer.new()
	# Room for rendered frames and a burst of motion; the server caps messages at limits.max_message_bytes.
	_peer.inbound_buffer_size = 8 << 20
	_peer.outbound_buffer_size = 8 << 20
	_peer.max_queued_packets = 4096
	var err: Error = _peer.connect_to_url(url)
	if err != OK:
		_fail_connection("cannot connect to %s: %s" % [url, error_string(err)])
		return
	state = State.CONNECTING
	_last_stream_ms = Time.get_ticks_msec()


## Drops the connection now and reconnects with back-off (through a cluster's ws:// ingress: to a live replica).
## Open sessions end with "connection_lost". VasaBridgeFace does this to re-open a line a draining replica ended.
func reconnect_now() -> void:
	if _peer != null and state != State.IDLE and state != State.WAITING_TO_RECONNECT:
		_peer.close(1000, "reconnecting")


## Closes the connection for good (no reconnect).
func close_connection() -> void:
	reconnect = false
	if _peer != null:
		_peer.close(1000, "bye")


## Opens a session; `session_opened(request_id, session, open_ok)` follows (or `error_received` with the
## request id in `details.id`). Rendered frames (protocol 1.1, a sidecar started with `serve --render`): add
## "frames_jpeg" or "frames_rgba" to `outputs`; `portrait` is an image file's bytes (e.g.
## FileAccess.get_file_as_bytes("res://face.jpg"), or Image.save_jpg_to_buffer()), empty for the server's demo
## portrait; `portrait_landmarks` and `render` ({"size", "jpeg_quality", "mark_position"}) as in
## VasaProtocol.open. open_ok.render (format, width, height, jpeg_quality, mark_position, portrait) then
## describes the frames, and each `motion` batch is followed by a `render` batch with the same seq (signal
## `render_received`; VasaBridgeTexture shows them).
func open_session(audio_format: String = "pcm16", sample_rate_hz: int = 16000,
		outputs: PackedStringArray = PackedStringArray(["motion"]), controls: Dictionary = {},
		seed: int = -1, portrait: PackedByteArray = PackedByteArray(), portrait_landmarks: Dictionary = {},
		render: Dictionary = {}) -> int:
	var message: Dictionary = VasaProtocol.open(0, audio_format, sample_rate_hz, outputs, controls, seed,
		portrait, portrait_landmarks, render)
	var rendering: bool = VasaProtocol.wants_render(outputs)
	var problem: String = ""
	if (not portrait.is_empty() or not portrait_landmarks.is_empty() or not render.is_empty()) and not rendering:
		problem = "portrait, portrait_landmarks and render need output frames_jpeg or frames_rgba"
	var limit: int = int(server_info.get("limits", {}).get("max_message_bytes", 0))
	if problem == "" and limit > 0 and VasaMsgpack.encode(message).size() > limit:
		# Over the limit the server closes the WebSocket (1009): refuse here, with a message that helps.
		problem = ("the open message with its %d-byte portrait exceeds the server's max_message_bytes %d: "
			+ "send a JPEG of about 1024 px") % [portrait.size(), limit]
	if problem != "":
		var request_id: int = _take_id()
		# Deferred, like a server reply: the caller learns the request id before the error arrives.
		call_deferred("emit_signal", "error_received", "bad_request", problem, {"id": request_id})
		return request_id
	if rendering:
		message["_timeout_s"] = maxf(request_timeout_s, render_open_timeout_s)
	return send_request(message)


## Appends a chunk of the session's audio (pcm16 or f32 little-endian bytes, as opened).
## Queues one chunk of the session's audio; chunks go out one at a time, each after the previous audio_ok, and
## a chunk refused with busy / rate_limited is resent first (see resend_dropped_audio). Returns its request id.
func push_audio(session: String, pcm: PackedByteArray) -> int:
	return _send_in_audio_order(session, VasaProtocol.audio(0, session, pcm))


## audio and end_audio of one session go out in order, one at a time (see push_audio).
func _send_in_audio_order(session: String, message: Dictionary) -> int:
	if _audio_in_flight.has(session):
		message["id"] = _take_id()
		if not _audio_queue.has(session):
			_audio_queue[session] = []
		_audio_queue[session].append(message)
		return message["id"]
	var request_id: int = send_request(message)
	_audio_in_flight[session] = request_id
	return request_id


## Audio requests (chunks, end_audio) of a session not yet sent (queued behind the one on the wire).
func queued_audio_chunks(session: String) -> int:
	return _audio_queue.get(session, []).size()


func _audio_done(session: String) -> void:
	var queue: Array = _audio_queue.get(session, [])
	if queue.is_empty():
		_audio_in_flight.erase(session)
		_audio_queue.erase(session)
		return
	var message: Dictionary = queue.pop_front()
	_audio_in_flight[session] = message["id"]
	if state == State.READY:
		_send(message)
	else:
		_waiting.append(message)


func end_audio(session: String) -> int:
	return _send_in_audio_order(session, VasaProtocol.end_audio(0, session))


func set_controls(session: String, values: Dictionary) -> int:
	return send_request(VasaProtocol.controls(0, session, values))


func close_session(session: String) -> int:
	return send_request(VasaProtocol.close(0, session))


func request_status() -> int:
	return send_request({"type": "status", "id": 0})


## Sends a request (its `id` is assigned here) now, or after hello_ok if the server is not ready yet.
func send_request(message: Dictionary) -> int:
	var request_id: int = _next_id
	_next_id = (_next_id % 0xfffffffe) + 1
	message["id"] = request_id
	if state == State.READY:
		_send(message)
	else:
		_waiting.append(message)
	return request_id


## Reads the socket and dispatches messages; called every frame by _process (call it yourself if the node is
## paused or not in the tree).
func poll() -> void:
	var now_ms: int = Time.get_ticks_msec()
	if state == State.WAITING_TO_RECONNECT:
		if now_ms >= _retry_at_ms:
			reconnect_attempts += 1
			connect_to_server()
		return
	if _peer == null or state == State.IDLE:
		return
	_peer.poll()
	match _peer.get_ready_state():
		WebSocketPeer.STATE_OPEN:
			if state == State.CONNECTING:
				state = State.HELLO
				_send(VasaProtocol.hello(_take_id(), token))
			while _peer.get_available_packet_count() > 0:
				var packet: PackedByteArray = _peer.get_packet()
				if _peer.was_string_packet():
					_protocol_violation("the server sent a text message; the binding uses binary messages only")
					continue
				_handle(packet)
		WebSocketPeer.STATE_CLOSED:
			_on_closed(_peer.get_close_code(), _peer.get_close_reason())
			return
	_check_timeouts(now_ms)
	_flush_resends(now_ms)


func _take_id() -> int:
	var request_id: int = _next_id
	_next_id = (_next_id % 0xfffffffe) + 1
	return request_id


func _send(message: Dictionary) -> void:
	# A per-request timeout travels with the message but is not part of it.
	var timeout_s: float = float(message.get("_timeout_s", request_timeout_s))
	var wire: Dictionary = message
	if message.has("_timeout_s"):
		wire = message.duplicate()
		wire.erase("_timeout_s")
	_pending[message["id"]] = {"message": message, "sent_ms": Time.get_ticks_msec(), "timeout_s": timeout_s}
	var err: Error = _peer.send(VasaMsgpack.encode(wire), WebSocketPeer.WRITE_MODE_BINARY)
	if err != OK:
		# A WebSocket that cannot take a message (closing, or its buffer full) is not usable: close it. The
		# request stays pending, so _on_closed reports the failure once and replays what still makes sense.
		_peer.close(1011, "send failed: %s" % error_string(err))


func _handle(packet: PackedByteArray) -> void:
	var decoded := VasaMsgpack.decode(packet)
	if not decoded.ok:
		_protocol_violation("undecodable message from the server (%d bytes): %s" % [packet.size(), decoded.error])
		return
	if typeof(decoded.value) != TYPE_DICTIONARY or typeof(decoded.value.get("type")) != TYPE_STRING:
		_protocol_violation("server message is not a map with a string `type`")
		return
	var msg: Dictionary = decoded.value
	var type: String = msg["type"]
	match type:
		"motion":
			_last_stream_ms = Time.get_ticks_msec()
			var errors: Array = []
			var batch := VasaProtocol.decode_motion(msg, errors)
			if batch == null:
				_protocol_violation("invalid motion batch: %s" % errors[0])
				return
			if _sessions.has(batch.session):
				_sessions[batch.session] = batch.seq + batch.n
			motion_received.emit(batch.session, batch)
		"render":
			_last_stream_ms = Time.get_ticks_msec()
			render_received.emit(str(msg.get("session", "")), msg)
		"heartbeat":
			_last_stream_ms = Time.get_ticks_msec()
		"end":
			_last_stream_ms = Time.get_ticks_msec()
			var session: String = str(msg.get("session", ""))
			_sessions.erase(session)
			session_ended.emit(session, str(msg.get("reason", "")), msg)
		"error":
			_on_error(msg)
		_:
			if type.ends_with("_ok"):
				_on_reply(type, msg)
			# Unknown stream message types are ignored (SPEC.md §3).


func _on_reply(type: String, msg: Dictionary) -> void:
	var request_id: int = msg.get("id", -1) if typeof(msg.get("id")) == TYPE_INT else -1
	_pending.erase(request_id)
	if type == "hello_ok":
		server_info = msg
		state = State.READY
		_backoff_s = 0.0
		reconnect_attempts = 0
		var waiting: Array = _waiting.duplicate()
		_waiting.clear()
		for message: Dictionary in waiting:
			_send(message)
		server_ready.emit(msg)
	elif type == "audio_ok" or type == "end_audio_ok":
		_audio_done(str(msg.get("session", "")))
	elif type == "open_ok":
		var session: String = str(msg.get("session", ""))
		_sessions[session] = 0
		_last_stream_ms = Time.get_ticks_msec()  # the heartbeat clock of a new session starts now
		session_opened.emit(request_id, session, msg)
	replied.emit(request_id, msg)


func _on_error(msg: Dictionary) -> void:
	var code: String = str(msg.get("code", "internal"))
	var request_id: int = msg.get("id") if typeof(msg.get("id")) == TYPE_INT else -1
	if request_id == -1 and not msg.has("session") and not _pending.is_empty():
		request_id = int(_pending.keys().min())  # SPEC.md §3: id nil answers an unreadable request: the oldest
	var pending: Dictionary = _pending.get(request_id, {})
	_pending.erase(request_id)
	var request: Dictionary = pending.get("message", {})
	if resend_dropped_audio and code in ["rate_limited", "busy"] and request.get("type") == "audio":
		var delay_ms: int = int(msg.get("retry_after_ms", 100.0))
		_resend.append({"at_ms": Time.get_ticks_msec() + delay_ms, "message": request})
		return  # the session's later chunks stay queued until this one is accepted
	if request.get("type") == "audio" or request.get("type") == "end_audio":
		_audio_done(str(request.get("session", "")))
	if code == "hello_required" and state == State.READY:
		# The server restarted behind a proxy that kept our connection: our sessions are gone.
		state = State.HELLO
		_send(VasaProtocol.hello(_take_id(), token))
	error_received.emit(code, str(msg.get("message", "")), msg)


func _protocol_violation(what: String) -> void:
	error_received.emit("bad_message", what, {})


func _check_timeouts(now_ms: int) -> void:
	var expired: Array = []
	for request_id: int in _pending:
		var entry: Dictionary = _pending[request_id]
		if now_ms - int(entry["sent_ms"]) > float(entry.get("timeout_s", request_timeout_s)) * 1000.0:
			expired.append(request_id)
	for request_id: int in expired:
		var message: Dictionary = _pending[request_id]["message"]
		var timeout_s: float = float(_pending[request_id].get("timeout_s", request_timeout_s))
		_pending.erase(request_id)
		error_received.emit("timeout", "no reply to %s (id %d) within %.1f s" % [
			message["type"], request_id, timeout_s], {"id": request_id})
		if message["type"] == "audio" or message["type"] == "end_audio":
			_audio_done(str(message.get("session", "")))
		if message["type"] == "hello":
			# A server that does not answer hello is not one we can use: drop it and retry later.
			_peer.close(1000, "no hello_ok")
	# SPEC.md §5.4: an open session without any stream message for 3 heartbeats means the server is gone.
	var heartbeat_ms: float = float(server_info.get("heartbeat_ms", 0.0))
	if state == State.READY and not _sessions.is_empty() and heartbeat_ms > 0.0 \
			and now_ms - _last_stream_ms > 3.0 * heartbeat_ms:
		error_received.emit("timeout", "no stream message for %d ms: server lost" % (now_ms - _last_stream_ms), {})
		_last_stream_ms = now_ms
		_peer.close(1000, "server lost")


func _flush_resends(now_ms: int) -> void:
	if _resend.is_empty() or state != State.READY:
		return
	var due: Array = []
	for entry: Dictionary in _resend:
		if now_ms >= int(entry["at_ms"]):
			due.append(entry)
	for entry: Dictionary in due:
		_resend.erase(entry)
		_send(entry["message"])  # same id: the refused request is no longer outstanding (SPEC.md §3)


func _on_closed(code: int, reason: String) -> void:
	# A server that closes before accepting our hello is a failed connection, not a lost one.
	var was_connected: bool = state == State.READY
	state = State.IDLE
	server_info = {}
	for session: String in _sessions.keys():
		session_ended.emit(session, "connection_lost", {})
	_sessions.clear()
	for request_id: int in _pending:
		var message: Dictionary = _pending[request_id]["message"]
		if message["type"] != "hello":
			_waiting.append(message)  # replayed after the next hello_ok only if still meaningful
	_pending.clear()
	# Requests naming sessions of the old connection would only earn unknown_session: drop them.
	_waiting = _waiting.filter(func(m: Dictionary) -> bool: return not m.has("session"))
	_resend.clear()
	_audio_in_flight.clear()  # the old connection's sessions are gone, and their audio with them
	_audio_queue.clear()
	if was_connected:
		disconnected.emit(code, reason)
	else:
		error_received.emit("connection_failed", "cannot reach %s (close code %d)" % [url, code], {})
	_schedule_reconnect(was_connected)


func _fail_connection(why: String) -> void:
	state = State.IDLE
	error_received.emit("connection_failed", why, {})
	_schedule_reconnect()


func _schedule_reconnect(at_once: bool = false) -> void:
	if not reconnect:
		return
	if at_once:
		# A working connection dropped: the address most likely serves again at once (a cluster's ingress routes
		# to a live replica), so the first attempt goes now; back-off starts if that one fails.
		_retry_at_ms = Time.get_ticks_msec()
		state = State.WAITING_TO_RECONNECT
		reconnect_scheduled.emit(reconnect_attempts + 1, 0.0)
		return
	_backoff_s = reconnect_min_s if _backoff_s <= 0.0 else minf(_backoff_s * 2.0, reconnect_max_s)
	_retry_at_ms = Time.get_ticks_msec() + int(_backoff_s * 1000.0)
	state = State.WAITING_TO_RECONNECT
	reconnect_scheduled.emit(reconnect_attempts + 1, _backoff_s)
