extends RefCounted
## A fake server breaks the protocol in one way per URL path; the client must raise `error_received` (and not
## hang) for each: undecodable bytes, a truncated message, a text message, a non-map, a truncated motion batch, a
## server that never answers (request timeout), and a server that closes the connection at once.

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
	await tree.process_frame
