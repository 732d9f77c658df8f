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
	# When each reconnect attempt starts: the gap between attempts k and k + 1 is the failed connection's time
	# plus back-off delay k + 1 (0.1 s doubling, capped at 0.4 s).
	var attempt_ms: Array = []
	var seen_attempts: int = 0
	while attempt_ms.size() < 4 and Time.get_ticks_msec() - started < WAIT_LIMIT_MS:
		if retrying.reconnect_attempts != seen_attempts:
			seen_attempts = retrying.reconnect_attempts
			attempt_ms.append(Time.get_ticks_msec())
		await tree.process_frame
	retrying.close_connection()
	var gaps: Array = []
	for i: int in range(1, attempt_ms.size()):
		gaps.append(attempt_ms[i] - attempt_ms[i - 1])
	var backs_off: bool = gaps.size() == 3 and gaps[0] >= 200 and gaps[1] >= 400 and gaps[2] >= 400 \
			and gaps[2] < 2000
	t.check("client_reconnects_with_backoff", backs_off and failure_codes.has("connection_failed"),
		"gaps between attempts %s ms (delays 0.2, 0.4, 0.4 s + connect time), errors %s" % [gaps, failure_codes])
	retrying.queue_free()
	await tree.process_frame
