extends RefCounted
## A fake server breaks the protocol in one way per URL path; the client must raise `error_received` (and not
## hang) for each: undecodable bytes, a truncated message, a text message, a non-map, a truncated motion batch, a
## server that never answers (request timeout), and a server that closes the connection at once. A client that
## keeps reconnecting to the closing server backs off exponentially.

const CASES: Dictionary = {
	"garbage": "bad_message", "truncated": "bad_message", "text": "bad_message", "not_map": "bad_message",
	"bad_motion": "bad_message", "silent": "timeout", "refuse": "connection_failed",
}
const WAIT_LIMIT_MS: int = 8000


func run(tree: SceneTree, t: VasaTestReport, options: Dictionary) -> void:
	if not t.check("malformed_fake_server_given", options.has("fake-port"), str(options)):
		return
	var got: Dictionary = {}  # case -> [code, message, ms]
	var clients: Dictionary = {}
	var started: int = Time.get_ticks_msec()
	var retrying := VasaBridgeClient.new()
	retrying.url = "ws://127.0.0.1:%s/refuse" % options["fake-port"]
	retrying.reconnect_min_s = 0.1
	retrying.reconnect_max_s = 0.4
	var failure_codes: Array = []
	retrying.error_received.connect(func(code: String, _m: String, _d: Dictionary) -> void:
		failure_codes.append(code))
	var delays: Array = []
	var scheduled_ms: Array = []
	retrying.reconnect_scheduled.connect(func(_attempt: int, delay_s: float) -> void:
		delays.append(snappedf(delay_s, 0.001))
		scheduled_ms.append(Time.get_ticks_msec()))
	tree.root.add_child(retrying)
	for path: String in CASES:
		var client := VasaBridgeClient.new()
		client.url = "ws://127.0.0.1:%s/%s" % [options["fake-port"], path]
		client.reconnect = false
		client.request_timeout_s = 1.5
		client.error_received.connect(func(code: String, message: String, _d: Dictionary) -> void:
			if not got.has(path):
				got[path] = [code, message, Time.get_ticks_msec() - started])
		tree.root.add_child(client)
		clients[path] = client
		if path == "bad_motion":
			client.open_session("pcm16", 16000)
	while got.size() < CASES.size() and Time.get_ticks_msec() - started < WAIT_LIMIT_MS:
		await tree.process_frame
	for path: String in CASES:
		var seen: Array = got.get(path, ["none", "no error signal", -1])
		t.check("malformed_%s_gives_error_signal" % path, seen[0] == CASES[path],
			"code %s after %d ms: %s" % [seen[0], seen[2], seen[1]])
		clients[path].close_connection()
		clients[path].queue_free()
	# Each failure schedules the next attempt after a doubling delay (0.1 s, capped at 0.4 s); the attempts
	# really wait for it: the time from the first schedule to the fourth is at least 0.1 + 0.2 + 0.4 s.
	while delays.size() < 4 and Time.get_ticks_msec() - started < WAIT_LIMIT_MS + 4000:
		await tree.process_frame
	retrying.close_connection()
	var span_ms: int = scheduled_ms[3] - scheduled_ms[0] if scheduled_ms.size() >= 4 else -1
	t.check("client_reconnects_with_backoff", delays.slice(0, 4) == [0.1, 0.2, 0.4, 0.4] and span_ms >= 700
		and retrying.reconnect_attempts >= 3 and failure_codes.has("connection_failed"),
		"delays %s s, first to fourth failure %d ms, %d attempts, errors %s" % [
		delays, span_ms, retrying.reconnect_attempts, failure_codes])
	retrying.queue_free()
	await tree.process_frame
