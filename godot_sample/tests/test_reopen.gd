extends RefCounted
## Against a `vasa-bridge serve --ray` cluster (tests/test_cluster.py runs this suite alone, `--suite=reopen`,
## with `--ws-port` the cluster's WebSocket ingress): a VasaBridgeFace speaks a line; a third of the way in the
## test asks the runner's page server (`/kill?instance=...`) to kill the replica serving it. The face re-opens
## the line on another replica and every frame of the line arrives once, pts = seq x 40 ms across the seam.

const WAIT_LIMIT_MS: int = 30000
const AHEAD_MS: float = 800.0  # pushed audio stays this close to playback, so the kill lands mid-line


func run(tree: SceneTree, t: VasaTestReport, options: Dictionary) -> void:
	if not t.check("reopen_cluster_given", options.has("ws-port") and options.has("http-port"), str(options)):
		return
	var pcm: PackedByteArray = FileAccess.get_file_as_bytes("res://test_data/line.pcm")
	var rate: int = int(options.get("sample-rate-hz", "16000"))
	var holder := Node.new()
	tree.root.add_child(holder)
	var client := VasaBridgeClient.new()
	client.url = "ws://127.0.0.1:%s/" % options["ws-port"]
	var face := VasaBridgeFace.new()
	face.client = client
	face.audio_ahead_ms = AHEAD_MS
	holder.add_child(client)
	holder.add_child(face)

	var batches: Array = []  # [seq, n, pts_ms]
	var failures: Array = []
	var finished: Array = []
	var reopened: Array = []
	face.motion_buffered.connect(func(b: VasaProtocol.MotionBatch) -> void: batches.append([b.seq, b.n, b.pts_ms]))
	face.line_failed.connect(func(code: String, message: String) -> void: failures.append("%s: %s" % [code, message]))
	face.line_finished.connect(func(_s: String) -> void: finished.append(Time.get_ticks_msec()))
	face.line_reopened.connect(func(_s: String, took_ms: float) -> void: reopened.append(took_ms))

	var timeline: Array = []  # what the client saw after the kill, ms since it: why a re-open took as long
	var killed_at: Array = [0]
	client.disconnected.connect(func(code: int, _r: String) -> void:
		timeline.append("closed %d at %d" % [code, Time.get_ticks_msec() - killed_at[0]]))
	client.reconnect_scheduled.connect(func(attempt: int, delay_s: float) -> void:
		timeline.append("attempt %d in %.1f s at %d" % [attempt, delay_s, Time.get_ticks_msec() - killed_at[0]]))
	client.server_ready.connect(func(_info: Dictionary) -> void:
		timeline.append("ready at %d" % (Time.get_ticks_msec() - killed_at[0])))
	var t0: int = Time.get_ticks_msec()
	while not client.is_ready() and Time.get_ticks_msec() - t0 < WAIT_LIMIT_MS:
		await tree.process_frame
	if not t.check("reopen_hello_ok", client.is_ready(), "no hello_ok from %s" % client.url):
		return
	var duration_ms: float = pcm.size() / 2.0 * 1000.0 / rate
	var expected: int = ceili(duration_ms * 25.0 / 1000.0)
	face.speak(pcm, rate)
	var victim: String = ""
	var kill_code: int = 0
	t0 = Time.get_ticks_msec()
	while finished.is_empty() and failures.is_empty() and Time.get_ticks_msec() - t0 < WAIT_LIMIT_MS:
		if victim == "" and _frames(batches) >= expected / 3:
			victim = str(client.server_info.get("instance", ""))
			killed_at[0] = Time.get_ticks_msec()
			kill_code = await _kill(tree, holder, int(options["http-port"]), victim)
		await tree.process_frame

	t.check("reopen_replica_killed", victim != "" and kill_code == 200, "victim %s, HTTP %d" % [victim, kill_code])
	t.check("reopen_line_finished", not finished.is_empty() and failures.is_empty(), str(failures))
	t.check("reopen_once_within_2_s", reopened.size() == 1 and reopened[0] < 2000.0,
		"re-opens %s ms" % [reopened])
	t.check("reopen_on_another_replica", str(client.server_info.get("instance", victim)) != victim,
		"%s -> %s" % [victim, client.server_info.get("instance")])
	var next: int = 0
	var on_clock: bool = true
	for b: Array in batches:
		if b[0] != next:
			break
		on_clock = on_clock and absf(float(b[2]) - b[0] * 40.0) < 1e-3
		next = b[0] + b[1]
	t.check("reopen_every_frame_once_on_the_audio_clock", next == expected and _frames(batches) == expected
		and on_clock, "%d frames in order of %d expected (%d received), pts on the clock: %s"
		% [next, expected, _frames(batches), on_clock])
	t.note("reopen_numbers", "re-open %s ms; %d frames; late frames dropped by the jitter buffer: %d; after the kill: %s"
		% [reopened, _frames(batches), face.jitter.dropped_late, ", ".join(timeline)])
	holder.queue_free()


static func _frames(batches: Array) -> int:
	var total: int = 0
	for b: Array in batches:
		total += b[1]
	return total


## Asks the runner's page server to kill the replica `instance` (it knows the cluster); the HTTP status.
static func _kill(tree: SceneTree, parent: Node, http_port: int, instance: String) -> int:
	var request := HTTPRequest.new()
	parent.add_child(request)
	var err: Error = request.request("http://127.0.0.1:%d/kill?instance=%s" % [http_port, instance])
	if err != OK:
		return -int(err)
	var result: Array = await request.request_completed  # [result, response code, headers, body]
	request.queue_free()
	await tree.process_frame
	return int(result[1])
