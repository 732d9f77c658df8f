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
	var failures_ms: Array = []
	retrying.error_received.connect(func(_c: String, _m: String, _d: Dictionary) -> void:
		failures_ms.append(Time.get_ticks_msec()))
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
	while failures_ms.size() < 5 and Time.get_ticks_msec() - started < WAIT_LIMIT_MS:
		await tree.process_frame
	retrying.close_connection()
	var gaps: Array = []
	for i: int in range(1, failures_ms.size()):
		gaps.append(failures_ms[i] - failures_ms[i - 1])
	# Delays 0.1, 0.2, 0.4, 0.4 s (capped) plus the connect time: each gap at least its delay, the later ones
	# longer than the first.
	var backs_off: bool = gaps.size() >= 4 and gaps[0] >= 100 and gaps[1] >= 200 and gaps[2] >= 400 \
			and gaps[3] >= 400 and gaps[3] < 2000
	t.check("client_reconnects_with_backoff", backs_off and retrying.reconnect_attempts >= 4,
		"%d attempts, gaps between failures %s ms" % [retrying.reconnect_attempts, gaps])
	retrying.queue_free()
	await tree.process_frame
