extends RefCounted
## Rendered frames live (protocol 1.1), against the runner's sidecar started with `vasa-bridge serve --render`:
## hello_ok describes the renderer; an `open` with frames_jpeg and an uploaded portrait (the astronaut photo, sent
## as msgpack bin inside the WebSocket message) gets open_ok.render; every `motion` batch is followed by a
## `render` batch with the same seq, n and pts_ms; the images are JPEGs of open_ok.render's size whose mouth
## region changes with jawOpen; an undecodable portrait gets `invalid_portrait`.

const WAIT_LIMIT_MS: int = 60000  # the uploaded portrait is prepared before open_ok: seconds on a loaded CPU
const RENDER_OPTIONS: Dictionary = {"size": 256, "jpeg_quality": 70, "mark_position": "top-left"}


func run(tree: SceneTree, t: VasaTestReport, options: Dictionary) -> void:
	if not t.check("render_live_sidecar_given", options.has("ws-port"), str(options)):
		return
	var portrait: PackedByteArray = FileAccess.get_file_as_bytes("res://test_data/portrait.jpg")
	var pcm: PackedByteArray = FileAccess.get_file_as_bytes("res://test_data/line.pcm")
	var rate: int = int(options.get("sample-rate-hz", "22050"))
	var client := VasaBridgeClient.new()
	client.url = "ws://127.0.0.1:%s/" % options["ws-port"]
	tree.root.add_child(client)
	var events: Array = []  # ["motion" | "render", session, seq, n, pts_ms, MotionBatch | render message]
	var errors: Array = []  # [code, message, details]
	var opened: Dictionary = {}  # request id -> [session, open_ok]
	var ended: Dictionary = {}  # session -> reason
	client.motion_received.connect(func(s: String, b: VasaProtocol.MotionBatch) -> void:
		events.append(["motion", s, b.seq, b.n, b.pts_ms, b]))
	client.render_received.connect(func(s: String, msg: Dictionary) -> void:
		events.append(["render", s, msg.get("seq"), msg.get("n"), msg.get("pts_ms"), msg]))
	client.error_received.connect(func(code: String, message: String, details: Dictionary) -> void:
		errors.append([code, message, details]))
	client.session_opened.connect(func(request_id: int, s: String, info: Dictionary) -> void:
		opened[request_id] = [s, info])
	client.session_ended.connect(func(s: String, reason: String, _m: Dictionary) -> void: ended[s] = reason)

	var t0: int = Time.get_ticks_msec()
	while not client.is_ready() and Time.get_ticks_msec() - t0 < WAIT_LIMIT_MS:
		await tree.process_frame
	var offer: Dictionary = client.server_info.get("render", {})
	t.check("render_live_hello_describes_the_renderer", "frames_jpeg" in client.server_info.get("outputs", [])
		and 256 in offer.get("sizes", []) and "jpeg" in offer.get("formats", [])
		and "top-left" in offer.get("mark_positions", []), "outputs %s, render %s" % [
		client.server_info.get("outputs"), offer])
	var frames_jpeg := PackedStringArray(["motion", "frames_jpeg"])

	# An undecodable portrait: a clear error for that request, and the connection stays usable.
	var bad_id: int = client.open_session("pcm16", rate, frames_jpeg, {}, -1, "not an image at all".to_utf8_buffer())
	var bad: Array = await _wait_for_reply(tree, errors, opened, bad_id)
	t.check("render_live_undecodable_portrait_is_invalid_portrait", bad.size() == 3 and bad[0] == "invalid_portrait",
		"got %s" % [bad])

	var t_open: int = Time.get_ticks_msec()
	var request_id: int = client.open_session("pcm16", rate, frames_jpeg, {}, -1, portrait, {}, RENDER_OPTIONS)
	var reply: Array = await _wait_for_reply(tree, errors, opened, request_id)
	var open_ms: int = Time.get_ticks_msec() - t_open
	if not t.check("render_live_open_with_uploaded_portrait", reply.size() == 2,
			"reply %s after %d ms" % [reply, open_ms]):
		client.close_connection()
		client.queue_free()
		return
	var session: String = reply[0]
	var info: Dictionary = reply[1].get("render", {})
	# Protocol 1.3 adds the portrait prep's notes (none for this one-face photo).
	t.check("render_live_open_ok_describes_the_frames", info == {"format": "jpeg", "width": 256, "height": 256,
		"jpeg_quality": 70, "mark_position": "top-left", "portrait": "uploaded", "notes": []},
		"%s (open took %d ms)" % [info, open_ms])
	t.note("render_live_open", "open with a %d-byte portrait: %d ms" % [portrait.size(), open_ms])

	errors.clear()
	var samples: int = mini(pcm.size() / 2, rate * 6 / 5)  # 1.2 s: 30 frames
	var chunk: int = rate / 10 * 2
	var offset: int = 0
	while offset < samples * 2:
		client.push_audio(session, pcm.slice(offset, mini(offset + chunk, samples * 2)))
		offset += chunk
		# 100 ms of audio every 100 ms, as a live source would: the sidecar then sends many small batch pairs
		# (pushed all at once, the whole line may come back as one motion and one render batch).
		await tree.create_timer(0.1).timeout
	client.end_audio(session)
	t0 = Time.get_ticks_msec()
	while not ended.has(session) and Time.get_ticks_msec() - t0 < WAIT_LIMIT_MS:
		await tree.process_frame
	t.check("render_live_stream_ends", ended.get(session) == "end_of_audio", "end %s, errors %s" % [
		ended.get(session), errors])
	_check_stream(t, events, session, ceili(samples * 25.0 / rate))
	client.close_connection()
	client.queue_free()
	await tree.process_frame


## Waits for the reply to `request_id`: [session, open_ok] or [code, message, details].
func _wait_for_reply(tree: SceneTree, errors: Array, opened: Dictionary, request_id: int) -> Array:
	var t0: int = Time.get_ticks_msec()
	while Time.get_ticks_msec() - t0 < WAIT_LIMIT_MS:
		if opened.has(request_id):
			return opened[request_id]
		for e: Array in errors:
			if e[2].get("id") == request_id:
				return e
		await tree.process_frame
	return []


func _check_stream(t: VasaTestReport, events: Array, session: String, expected_frames: int) -> void:
	var ours: Array = events.filter(func(e: Array) -> bool: return e[1] == session)
	var paired: bool = not ours.is_empty() and ours.size() % 2 == 0
	var why: String = "%d messages" % ours.size()
	var frames: int = 0
	var jaw: PackedFloat32Array = PackedFloat32Array()
	var images: Array = []  # Image per frame, in seq order
	var sizes_ok: bool = true
	var size_why: String = ""
	var jaw_channel: int = VasaProtocol.default_channel_names().find("jawOpen")
	for i: int in range(0, ours.size() - 1, 2):
		var m: Array = ours[i]
		var r: Array = ours[i + 1]
		# SPEC.md §5.2: each render batch follows its motion batch with the same seq, n and pts_ms.
		if m[0] != "motion" or r[0] != "render" or m[2] != r[2] or m[3] != r[3] or m[4] != r[4]:
			paired = false
			why = "message %d: %s seq %s n %s pts %s, then %s seq %s n %s pts %s" % [i, m[0], m[2], m[3], m[4], r[0],
				r[2], r[3], r[4]]
			break
		var batch: VasaProtocol.MotionBatch = m[5]
		frames += batch.n
		for k: int in batch.n:
			jaw.append(batch.frames[k * batch.channels + jaw_channel])
		var msg: Dictionary = r[5]
		for blob: Variant in msg.get("images", []):
			var image: Image = VasaBridgeTexture.decode_image(blob, str(msg.get("format")), 256, 256)
			if image == null or image.get_size() != Vector2i(256, 256) or msg.get("width") != 256:
				sizes_ok = false
				size_why = "an image of batch seq %s: %s" % [msg.get("seq"), image.get_size() if image else "undecodable"]
			images.append(image)
	t.check("render_live_render_batch_follows_its_motion_batch", paired and ours.size() >= 6, why)
	t.check("render_live_one_image_per_frame", frames == expected_frames and images.size() == frames,
		"%d motion frames (expected %d), %d images" % [frames, expected_frames, images.size()])
	t.check("render_live_images_are_jpegs_of_open_ok_size", sizes_ok and not images.is_empty(), size_why)
	if not sizes_ok or images.size() != jaw.size() or jaw.is_empty():
		return
	# The rendered mouth follows the motion: the lower face differs between the most and least open jaw frames.
	var lo: int = 0
	var hi: int = 0
	for k: int in jaw.size():
		lo = k if jaw[k] < jaw[lo] else lo
		hi = k if jaw[k] > jaw[hi] else hi
	var diff: float = 0.0
	for y: int in range(150, 220):
		for x: int in range(90, 170):
			var a: Color = images[lo].get_pixel(x, y)
			var b: Color = images[hi].get_pixel(x, y)
			diff += (absf(a.r - b.r) + absf(a.g - b.g) + absf(a.b - b.b)) / 3.0
	diff = diff * 255.0 / (70 * 80)
	t.check("render_live_mouth_moves_with_jaw", jaw[hi] - jaw[lo] > 0.05 and diff > 2.0,
		"jawOpen %.2f..%.2f, mean lower-face difference %.1f levels" % [jaw[lo], jaw[hi], diff])
