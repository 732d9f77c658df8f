extends RefCounted
## The fake server's "busy" path refuses every even-numbered audio chunk once with `busy` (retry_after_ms 30).
## The client must resend each refused chunk before any later chunk of the session, so the server's audio clock
## holds every chunk, in order, and end_audio comes last (SPEC.md §4.3). An error with id nil answers the oldest
## outstanding request (SPEC.md §3), so that request never times out.

const CHUNKS: int = 6
const CHUNK_BYTES: int = 640  # 20 ms of 16 kHz pcm16
const WAIT_LIMIT_MS: int = 6000


func run(tree: SceneTree, t: VasaTestReport, options: Dictionary) -> void:
	if not t.check("busy_fake_server_given", options.has("fake-port"), str(options)):
		return
	var client := VasaBridgeClient.new()
	client.url = "ws://127.0.0.1:%s/busy" % options["fake-port"]
	client.reconnect = false
	client.request_timeout_s = 1.0
	var errors: Array = []
	var ended: Array = []
	var opened: Array = []
	client.error_received.connect(func(code: String, message: String, details: Dictionary) -> void:
		errors.append([code, message, details]))
	client.session_opened.connect(func(_id: int, session: String, _info: Dictionary) -> void:
		opened.append(session))
	client.session_ended.connect(func(_session: String, _reason: String, message: Dictionary) -> void:
		ended.append(message))
	tree.root.add_child(client)
	var started: int = Time.get_ticks_msec()
	client.open_session("pcm16", 16000)
	while opened.is_empty() and Time.get_ticks_msec() - started < WAIT_LIMIT_MS:
		await tree.process_frame
	if not t.check("busy_session_opened", not opened.is_empty(), str(errors)):
		client.queue_free()
		return
	for i: int in CHUNKS:
		var chunk := PackedByteArray()
		chunk.resize(CHUNK_BYTES)
		chunk.fill(i)
		client.push_audio(opened[0], chunk)
	client.end_audio(opened[0])
	while ended.is_empty() and Time.get_ticks_msec() - started < WAIT_LIMIT_MS:
		await tree.process_frame
	var end: Dictionary = ended[0] if not ended.is_empty() else {}
	var order: Array = end.get("x_chunk_order", [])
	t.check("busy_audio_resent_in_order", order == range(CHUNKS),
		"chunks taken by the server: %s, errors %s" % [order, errors])
	t.check("busy_audio_clock_whole", is_equal_approx(float(end.get("duration_ms", 0.0)), CHUNKS * 20.0),
		"duration_ms %s" % end.get("duration_ms"))
	errors.clear()
	client.request_status()  # answered by an error with id nil
	var asked: int = Time.get_ticks_msec()
	while Time.get_ticks_msec() - asked < 1500:
		await tree.process_frame
	var codes: Array = errors.map(func(e: Array) -> String: return e[0])
	t.check("busy_id_nil_error_fails_the_oldest_request", codes == ["bad_message"],
		"errors after the status request: %s" % [codes])
	client.close_connection()
	client.queue_free()
