extends RefCounted
## Live, against the real sidecar's WebSocket binding (`vasa-bridge serve` started by the runner): a
## VasaBridgeFace speaks an espeak-ng line; every motion frame arrives in order with pts = seq x 40 ms, the
## frame count matches the audio length (SPEC.md §6), the line starts playing, and the head's jawOpen blend shape
## follows the stream (at frame times and interpolated between them).

const HEAD_PATH: String = "res://test_data/vasa_head.glb"
const WAIT_LIMIT_MS: int = 30000


func run(tree: SceneTree, t: VasaTestReport, options: Dictionary) -> void:
	if not t.check("live_sidecar_given", options.has("ws-port"), str(options)):
		return
	var pcm: PackedByteArray = FileAccess.get_file_as_bytes("res://test_data/line.pcm")
	var rate: int = int(options.get("sample-rate-hz", "22050"))
	var head: Node3D = VasaHeadLoader.load_head(HEAD_PATH)
	tree.root.add_child(head)
	var mesh := head.find_child("head", true, false) as MeshInstance3D
	var client := VasaBridgeClient.new()
	client.url = "ws://127.0.0.1:%s/" % options["ws-port"]
	var face := VasaBridgeFace.new()
	face.client = client
	head.add_child(client)
	head.add_child(face)
	face.meshes.append(face.get_path_to(mesh))
	face.head_node = head
	face.bind()

	var batches: Array = []  # [seq, n, pts_ms, frames]
	var errors: Array = []
	var ended: Array = []
	var started: Array = []
	client.motion_received.connect(func(_s: String, b: VasaProtocol.MotionBatch) -> void:
		batches.append([b.seq, b.n, b.pts_ms, b.frames, b.channels]))
	client.error_received.connect(func(code: String, message: String, _d: Dictionary) -> void:
		errors.append("%s: %s" % [code, message]))
	client.session_ended.connect(func(_s: String, reason: String, msg: Dictionary) -> void:
		ended.append([reason, msg]))
	var buffered_at_start: Array = []
	face.line_started.connect(func(_s: String) -> void:
		started.append(Time.get_ticks_msec())
		buffered_at_start.append(face.jitter.buffered_until_ms()))

	var t0: int = Time.get_ticks_msec()
	while not client.is_ready() and Time.get_ticks_msec() - t0 < WAIT_LIMIT_MS and errors.is_empty():
		await tree.process_frame
	t.check("live_hello_ok", client.is_ready() and client.server_info.get("synthetic") == true,
		"server %s, protocol %s, fps %s, errors %s" % [client.server_info.get("server"),
		client.server_info.get("protocol"), client.server_info.get("fps"), errors])
	var t_speak: int = Time.get_ticks_msec()
	face.speak(pcm, rate)
	t.note("live_speak_call", "speak() returned after %d ms" % (Time.get_ticks_msec() - t_speak))
	while ended.is_empty() and Time.get_ticks_msec() - t_speak < WAIT_LIMIT_MS and errors.is_empty():
		await tree.process_frame
	var stream_ms: int = Time.get_ticks_msec() - t_speak
	face.set_process(false)  # from here the test drives the face's clock itself

	# Every frame, in order, with the right pts, and as many as the audio needs.
	var duration_ms: float = pcm.size() / 2.0 * 1000.0 / rate
	var expected_frames: int = ceili(duration_ms * 25.0 / 1000.0)
	var next_seq: int = 0
	var order_ok: bool = true
	var pts_ok: bool = true
	var jaw_track := PackedFloat32Array()
	var names: PackedStringArray = VasaProtocol.default_channel_names()
	var jaw: int = names.find("jawOpen")
	for b: Array in batches:
		order_ok = order_ok and b[0] == next_seq
		pts_ok = pts_ok and absf(b[2] - b[0] * 40.0) < 1e-6
		next_seq = b[0] + b[1]
		for i: int in b[1]:
			jaw_track.append(b[3][i * b[4] + jaw])
	var end_reason: String = ended[0][0] if not ended.is_empty() else "none"
	var frames_total: int = int(ended[0][1].get("frames_total", -1)) if not ended.is_empty() else -1
	t.check("live_stream_ends_with_end_of_audio", end_reason == "end_of_audio" and errors.is_empty(),
		"end reason %s after %d ms, errors %s" % [end_reason, stream_ms, errors])
	t.check("live_frames_in_order", order_ok and next_seq == expected_frames and frames_total == expected_frames,
		"%d batches, %d frames, end.frames_total %d, expected ceil(%.0f ms x 25 / 1000) = %d" % [
		batches.size(), next_seq, frames_total, duration_ms, expected_frames])
	t.check("live_pts_is_seq_times_40ms", pts_ok and not batches.is_empty(), "%d batches checked" % batches.size())
	var jaw_max: float = 0.0
	var jaw_min: float = 1.0
	for v: float in jaw_track:
		jaw_max = maxf(jaw_max, v)
		jaw_min = minf(jaw_min, v)
	t.check("live_stream_moves_the_jaw", jaw_max - jaw_min > 0.2,
		"jawOpen range %.3f..%.3f over %d frames" % [jaw_min, jaw_max, jaw_track.size()])
	# Playback waits for the sidecar's lookahead plus a margin of buffered motion (or the whole line).
	var buffered: float = buffered_at_start[0] if not buffered_at_start.is_empty() else -1.0
	t.check("live_playback_starts_after_lookahead", started.size() == 1
		and buffered >= face.lookahead_ms + face.start_margin_ms,
		"line_started after %d ms with %.0f ms of motion buffered (lookahead_ms %.1f + margin %.0f)" % [
		(started[0] - t_speak) if not started.is_empty() else -1, buffered, face.lookahead_ms, face.start_margin_ms])

	# The head's jawOpen follows the stream: at each frame time, and halfway between frames.
	var jb := VasaJitterBuffer.new(25.0)
	for b: Array in batches:
		var batch := VasaProtocol.MotionBatch.new()
		batch.seq = b[0]
		batch.n = b[1]
		batch.pts_ms = b[2]
		batch.channels = b[4]
		batch.frames = b[3]
		jb.push_batch(batch)
	face.jitter = jb
	var shape: int = mesh.find_blend_shape_by_name("jawOpen")
	var worst: float = 0.0
	for k: int in jaw_track.size():
		face.apply_at_ms(k * 40.0)
		worst = maxf(worst, absf(mesh.get_blend_shape_value(shape) - jaw_track[k]))
		if k + 1 < jaw_track.size():
			face.apply_at_ms(k * 40.0 + 20.0)
			var want: float = (jaw_track[k] + jaw_track[k + 1]) * 0.5
			worst = maxf(worst, absf(mesh.get_blend_shape_value(shape) - want))
	t.check("live_head_jaw_follows_stream", worst < 1e-5 and jaw_track.size() > 0,
		"max |blend shape - stream| %.7f over %d frames and midpoints" % [worst, jaw_track.size()])
	t.note("live_stream", "%d frames of %.0f ms audio streamed in %d ms" % [
		jaw_track.size(), duration_ms, stream_ms])
	client.close_connection()
	head.queue_free()
	await tree.process_frame
