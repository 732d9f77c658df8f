extends RefCounted
## The msgpack codec against the protocol's golden vectors (protocol/vectors/): every .msgpack decodes to the
## value in its .json and re-encodes to the very same bytes (Python's msgpack picks the same encodings), motion
## frames decode to the documented floats, and malformed bytes give an error instead of a value.

const VECTOR_DIR: String = "res://test_data/vectors/"


func run(_tree: SceneTree, t: VasaTestReport, _options: Dictionary) -> void:
	var names: PackedStringArray = []
	for file: String in DirAccess.get_files_at(VECTOR_DIR):
		if file.ends_with(".msgpack"):
			names.append(file.get_basename())
	t.check("codec_vectors_found", names.size() >= 19, "%d vectors: %s" % [names.size(), ", ".join(names)])
	var identical: int = 0
	for name: String in names:
		var bytes: PackedByteArray = FileAccess.get_file_as_bytes(VECTOR_DIR + name + ".msgpack")
		var expected: Variant = _from_json(JSON.parse_string(
			FileAccess.get_file_as_string(VECTOR_DIR + name + ".json")))
		var decoded := VasaMsgpack.decode(bytes)
		var why: String = _diff(decoded.value, expected, "$") if decoded.ok else decoded.error
		var again: PackedByteArray = VasaMsgpack.encode(decoded.value)
		var same_bytes: bool = again == bytes
		identical += int(decoded.ok and why == "" and same_bytes)
		t.check("codec_vector_" + name, decoded.ok and why == "" and same_bytes,
			"%d bytes, value %s, re-encoded %s" % [bytes.size(), "equal" if why == "" else why,
			"identical" if same_bytes else "DIFFERENT (%d bytes)" % again.size()])
	t.check("codec_all_vectors_identical", identical == names.size() and names.size() > 0,
		"%d of %d" % [identical, names.size()])
	_check_motion(t)
	_check_open_builder(t)
	_check_malformed(t)
	_measure_decode_cost(t)


func _check_motion(t: VasaTestReport) -> void:
	var names := VasaProtocol.default_channel_names()
	var jaw: int = names.find("jawOpen")
	var errors: Array = []
	var msg: Dictionary = VasaMsgpack.decode(FileAccess.get_file_as_bytes(VECTOR_DIR + "motion.msgpack")).value
	var batch := VasaProtocol.decode_motion(msg, errors)
	var ok: bool = batch != null and batch.n == 3 and batch.channels == 60
	var detail: String = str(errors)
	if ok:
		var f2 := batch.frame(2)
		var head_z_ok: bool = true
		# headZ is float32(0.6) on the wire
		for i: int in batch.n:
			head_z_ok = head_z_ok and absf(batch.frame(i)[names.find("headZ")] - 0.6) < 1e-6 \
					and batch.frame(i)[names.find("headYaw")] == 0.125
		ok = f2[jaw] == 0.5 and head_z_ok and batch.seq == 10 and batch.pts_ms == 400.0
		detail = "seq %d pts %.1f frame2 jawOpen %.4f headZ/headYaw all ok %s" % [
			batch.seq, batch.pts_ms, f2[jaw], head_z_ok]
	t.check("codec_motion_frames_f32", ok, detail)
	var half: Dictionary = VasaMsgpack.decode(
		FileAccess.get_file_as_bytes(VECTOR_DIR + "motion_f16_latent.msgpack")).value
	var hb := VasaProtocol.decode_motion(half, errors)
	var expected_json: Dictionary = JSON.parse_string(
		FileAccess.get_file_as_string(VECTOR_DIR + "motion_f16_latent.json"))
	var raw: PackedByteArray = String(expected_json["frames"]["$bin"]).hex_decode()
	var f16_ok: bool = hb != null and hb.frames.size() == raw.size() / 2
	var max_err: float = 0.0
	if f16_ok:
		for i: int in hb.frames.size():
			max_err = maxf(max_err, absf(hb.frames[i] - raw.decode_half(i * 2)))
		# f16 0x3400 is 0.25: the first value of the vector
		f16_ok = max_err == 0.0 and hb.frames[0] == 0.25
	t.check("codec_motion_frames_f16", f16_ok, "%s values, first %s, max error %s" % [
		hb.frames.size() if hb != null else -1, hb.frames[0] if hb != null else NAN, max_err])


## VasaProtocol.open with a portrait and render options writes vector open_portrait byte for byte: the portrait
## is a msgpack bin inside the map (the WebSocket form), the render map keeps its key order.
func _check_open_builder(t: VasaTestReport) -> void:
	var want: PackedByteArray = FileAccess.get_file_as_bytes(VECTOR_DIR + "open_portrait.msgpack")
	var vector: Dictionary = VasaMsgpack.decode(want).value
	var portrait: PackedByteArray = vector["portrait"]
	var built: Dictionary = VasaProtocol.open(2, "f32", 16000, PackedStringArray(["motion", "frames_jpeg"]), {}, 7,
		portrait, {}, {"size": 512, "jpeg_quality": 80, "mark_position": "top-left"})
	var got: PackedByteArray = VasaMsgpack.encode(built)
	# 0xc4 <len> <bytes>: bin 8 (a str would start 0xa0-0xbf / 0xd9)
	var bin_at: int = got.find(0xc4)
	t.check("codec_open_with_portrait_writes_vector_open_portrait", got == want and bin_at > 0
		and got[bin_at + 1] == portrait.size(), "%d bytes vs %d, portrait bin at %d" % [got.size(), want.size(), bin_at])
	var plain: Dictionary = VasaProtocol.open(3, "pcm16", 16000, PackedStringArray(["motion"]), {})
	t.check("codec_open_without_portrait_has_no_render_fields", not plain.has("portrait")
		and not plain.has("render") and not plain.has("portrait_landmarks"), str(plain.keys()))


func _check_malformed(t: VasaTestReport) -> void:
	var good: PackedByteArray = FileAccess.get_file_as_bytes(VECTOR_DIR + "hello_ok.msgpack")
	var cases: Dictionary = {
		"truncated": good.slice(0, good.size() - 5),
		"empty": PackedByteArray(),
		"reserved_c1": PackedByteArray([0xc1]),
		"extension": PackedByteArray([0xd4, 0x01, 0x02]),
		"trailing": good + PackedByteArray([0x00]),
		"huge_count": PackedByteArray([0xdf, 0x7f, 0xff, 0xff, 0xff]),
		"deep": _deep_array(100),
	}
	for name: String in cases:
		var d := VasaMsgpack.decode(cases[name])
		t.check("codec_rejects_" + name, not d.ok and d.error != "", d.error)
	var errors: Array = []
	var motion: Dictionary = VasaMsgpack.decode(FileAccess.get_file_as_bytes(VECTOR_DIR + "motion.msgpack")).value
	motion["frames"] = (motion["frames"] as PackedByteArray).slice(0, 100)
	var bad := VasaProtocol.decode_motion(motion, errors)
	t.check("codec_rejects_short_motion_frames", bad == null and errors.size() == 1, str(errors))


func _deep_array(depth: int) -> PackedByteArray:
	var out := PackedByteArray()
	for i: int in depth:
		out.append(0x91)
	out.append(0xc0)
	return out


## Client cost per frame: msgpack decode of a motion batch + frames -> floats, averaged over many decodes.
func _measure_decode_cost(t: VasaTestReport) -> void:
	var bytes: PackedByteArray = FileAccess.get_file_as_bytes(VECTOR_DIR + "motion.msgpack")
	var errors: Array = []
	var rounds: int = 2000
	var frames: int = 0
	var started: int = Time.get_ticks_usec()
	for i: int in rounds:
		var msg: Dictionary = VasaMsgpack.decode(bytes).value
		frames += VasaProtocol.decode_motion(msg, errors).n
	var us_per_frame: float = float(Time.get_ticks_usec() - started) / frames
	t.note("decode_cost", "%.1f us per frame (batches of 3 frames, %d frames)" % [us_per_frame, frames])
	# A batch of 25 frames (one second), the size a live stream delivers when it runs ahead of playback.
	var big: Dictionary = VasaMsgpack.decode(bytes).value
	var one: PackedByteArray = (big["frames"] as PackedByteArray).slice(0, 60 * 4)
	var blob := PackedByteArray()
	for i: int in 25:
		blob.append_array(one)
	big["n"] = 25
	big["frames"] = blob
	var big_bytes: PackedByteArray = VasaMsgpack.encode(big)
	started = Time.get_ticks_usec()
	for i: int in 400:
		VasaProtocol.decode_motion(VasaMsgpack.decode(big_bytes).value, errors)
	t.note("decode_cost_25", "%.2f us per frame (batches of 25 frames, 10000 frames)" % [
		float(Time.get_ticks_usec() - started) / 10000.0])
	t.check("codec_decode_cost_below_1ms_per_frame", us_per_frame < 1000.0 and errors.is_empty(),
		"%.1f us per frame" % us_per_frame)


## JSON form of a vector (SPEC.md §13) -> the value the codec should produce: {"$bin": hex} -> bytes.
func _from_json(v: Variant) -> Variant:
	if v is Dictionary:
		if v.size() == 1 and v.has("$bin"):
			return String(v["$bin"]).hex_decode()
		var out: Dictionary = {}
		for k: Variant in v:
			out[k] = _from_json(v[k])
		return out
	if v is Array:
		return (v as Array).map(_from_json)
	return v


## "" when equal; JSON has no int/float distinction, so numbers compare by value.
func _diff(got: Variant, want: Variant, path: String) -> String:
	var numeric: Array = [TYPE_INT, TYPE_FLOAT]
	if typeof(got) in numeric and typeof(want) in numeric:
		return "" if float(got) == float(want) else "%s: %s != %s" % [path, got, want]
	if typeof(got) != typeof(want):
		return "%s: %s is %s, want %s" % [path, got, type_string(typeof(got)), type_string(typeof(want))]
	if got is Dictionary:
		if got.size() != want.size() or got.keys() != want.keys():
			return "%s: keys %s != %s" % [path, got.keys(), want.keys()]
		for k: Variant in want:
			var d: String = _diff(got[k], want[k], "%s.%s" % [path, k])
			if d != "":
				return d
		return ""
	if got is Array:
		if got.size() != want.size():
			return "%s: %d items != %d" % [path, got.size(), want.size()]
		for i: int in got.size():
			var d: String = _diff(got[i], want[i], "%s[%d]" % [path, i])
			if d != "":
				return d
		return ""
	return "" if got == want else "%s: %s != %s" % [path, got, want]
