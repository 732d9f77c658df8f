class_name VasaClipLoader
extends RefCounted
## Turns a baked line (`vasa-bridge bake -o line.json|csv`) into an `Animation` for an `AnimationPlayer`: one
## blend-shape track per ARKit channel on each mesh in `mesh_paths`, rotation tracks for `head_path` and the eyes,
## keyed at the clip's own frame times (nothing is resampled; tracks interpolate linearly between frames, as the
## live client's jitter buffer does). No sidecar is needed at run time, and the web platform can use it too.
##
## Node paths are relative to the AnimationPlayer's `root_node`. Head and eye rotations follow `VasaBridgeFace`
## (rig faces +Z, +Y up). Used by the editor import plugin (`clip_import_plugin.gd`) and at run time:
##     var loader := VasaClipLoader.new()
##     loader.mesh_paths = [NodePath("vasa_head/head")]
##     loader.head_path = NodePath("vasa_head")
##     var library := loader.load_library("res://lines/hello.json")   # null on error, see loader.error
##     $AnimationPlayer.add_animation_library("baked", library); $AnimationPlayer.play("baked/hello")

const JSON_FORMAT: String = "vasa_bridge.clip"
const MOTION_LAYOUT_VERSION: int = 1
## Head pose and gaze channels; every other channel of a clip is a blend shape.
const POSE_CHANNELS: PackedStringArray = [
	"headpitch", "headyaw", "headroll", "headx", "heady", "headz", "gazeyaw", "gazepitch"]
## Live Link Face rotation columns and the channel each becomes (both eyes share one gaze, from the left eye).
const CSV_POSE_COLUMNS: Dictionary = {
	"headyaw": "headYaw", "headpitch": "headPitch", "headroll": "headRoll", "lefteyeyaw": "gazeYaw",
	"lefteyepitch": "gazePitch", "headx": "headX", "heady": "headY", "headz": "headZ"}
const CSV_IGNORED: PackedStringArray = [
	"timecode", "blendshapecount", "lefteyeroll", "righteyeyaw", "righteyepitch", "righteyeroll"]
## Standard take rates: a CSV take's rate is the smallest one above its largest FF field (as clip_io.py infers it).
const STANDARD_FPS: PackedFloat64Array = [24.0, 25.0, 30.0, 50.0, 60.0, 120.0]
const DEFAULT_FPS: float = 25.0

## MeshInstance3D nodes that receive every blend-shape track.
var mesh_paths: Array[NodePath] = [NodePath("head")]
## Put before each blend-shape name (e.g. "blendShape1.").
var shape_prefix: String = ""
## Channel (ARKit name) -> the rig's blend-shape name; "" drops the channel.
var blend_shape_remap: Dictionary = {}
## Node3D rotated by head pose; empty: no head track.
var head_path: NodePath = NodePath("")
var head_pose_weight: float = 1.0
## The head's rest rotation: the track replaces the node's rotation, so the rest pose is part of every key.
var head_rest: Quaternion = Quaternion.IDENTITY
var eye_left_path: NodePath = NodePath("")
var eye_right_path: NodePath = NodePath("")
var eye_left_rest: Quaternion = Quaternion.IDENTITY
var eye_right_rest: Quaternion = Quaternion.IDENTITY
## CSV only: the rate its timecodes count frames at; 0 infers it.
var timecode_fps: float = 0.0
## Why the last call returned null or an empty clip ("" after a success).
var error: String = ""


## The animation library {name: Animation} of a clip file, name defaulting to the file's base name.
func load_library(path: String, animation_name: String = "") -> AnimationLibrary:
	var animation: Animation = load_animation(path)
	if animation == null:
		return null
	var library := AnimationLibrary.new()
	library.add_animation(animation_name if animation_name != "" else path.get_file().get_basename(), animation)
	return library


func load_animation(path: String) -> Animation:
	var clip: Dictionary = read_clip(path)
	return build_animation(clip) if not clip.is_empty() else null


## {channels: PackedStringArray, times_s: PackedFloat64Array (from 0), values: PackedFloat32Array (frame-major),
## fps: float}, or {} with `error` set.
func read_clip(path: String) -> Dictionary:
	var file := FileAccess.open(path, FileAccess.READ)
	if file == null:
		return _fail("cannot open %s: %s" % [path, error_string(FileAccess.get_open_error())])
	var clip: Dictionary = parse(file.get_as_text(), path.get_extension())
	if clip.is_empty():
		error = "%s: %s" % [path, error]
	return clip


func parse(text: String, extension: String) -> Dictionary:
	match extension.to_lower():
		"json":
			return parse_json(text)
		"csv":
			return parse_csv(text)
	return _fail("unknown clip extension '%s': use .csv (Live Link Face) or .json (vasa_bridge.clip)" % extension)


## Our JSON clip; `times_s` (one per frame), when a writer adds it, wins over i / fps.
func parse_json(text: String) -> Dictionary:
	var json := JSON.new()
	if json.parse(text) != OK:
		return _fail("not valid JSON (line %d: %s)" % [json.get_error_line(), json.get_error_message()])
	var doc: Variant = json.data
	if not doc is Dictionary or doc.get("format") != JSON_FORMAT:
		return _fail("not a %s JSON clip" % JSON_FORMAT)
	if not doc.get("motion_layout_version") is float or int(doc["motion_layout_version"]) != MOTION_LAYOUT_VERSION:
		return _fail("the clip has motion layout %s; this loader reads layout %d: re-bake it or update the addon"
			% [doc.get("motion_layout_version"), MOTION_LAYOUT_VERSION])
	var fps: float = float(doc.get("fps", 0.0)) if doc.get("fps") is float else 0.0
	if fps <= 0.0:
		return _fail("the clip's fps must be a positive number")
	var channels := PackedStringArray()
	var names: Variant = doc.get("channels")
	for name: Variant in (names if names is Array else []):
		if not name is String or name == "":
			return _fail("\"channels\" must be a list of names")
		channels.append(name)
	var frames: Variant = doc.get("frames")
	if channels.is_empty() or not frames is Array or frames.is_empty():
		return _fail("the clip has no channels or no frames")
	var values := PackedFloat32Array()
	values.resize(frames.size() * channels.size())
	for f: int in frames.size():
		var row: Variant = frames[f]
		if not row is Array or row.size() != channels.size():
			return _fail("frame %d does not hold %d numbers (one per channel)" % [f, channels.size()])
		for c: int in channels.size():
			if not row[c] is float or not is_finite(row[c]):
				return _fail("frame %d channel %s is not a finite number" % [f, channels[c]])
			values[f * channels.size() + c] = row[c]
	var times := PackedFloat64Array()
	var given: Variant = doc.get("times_s")
	if given is Array:
		if given.size() != frames.size():
			return _fail("\"times_s\" must hold one number per frame")
		for t: Variant in given:
			times.append(float(t) - float(given[0]))
	else:
		for f: int in frames.size():
			times.append(f / fps)
	return _clip(channels, times, values, fps)


## Live Link Face CSV: `Timecode` (HH:MM:SS:FF[.fff], from any time of day), `BlendShapeCount`, the ARKit shapes
## in PascalCase, head and eye rotations (radians), optional HeadX/Y/Z (metres).
func parse_csv(text: String) -> Dictionary:
	var rows: Array[PackedStringArray] = []
	for line: String in text.split("\n", false):
		if line.strip_edges() != "":
			rows.append(line.strip_edges().split(","))
	if rows.size() < 2 or rows[0][0].strip_edges().to_lower() != "timecode":
		return _fail("not a Live Link Face CSV: the first column must be Timecode, followed by data rows")
	var header: PackedStringArray = rows[0]
	var columns := PackedInt32Array()
	var channels := PackedStringArray()
	for i: int in header.size():
		var column: String = header[i].strip_edges()
		var lower: String = column.to_lower()
		if column == "" or lower in CSV_IGNORED:
			continue
		var channel: String = CSV_POSE_COLUMNS.get(lower, column[0].to_lower() + column.substr(1))
		if channel in channels:
			return _fail("column %s appears twice" % column)
		columns.append(i)
		channels.append(channel)
	if channels.is_empty():
		return _fail("the CSV has no channel columns after Timecode")
	var codes := PackedStringArray()
	for r: int in range(1, rows.size()):
		if rows[r].size() != header.size():
			return _fail("row %d has %d fields, the header %d" % [r + 1, rows[r].size(), header.size()])
		codes.append(rows[r][0])
	var fps: float = timecode_fps if timecode_fps > 0.0 else infer_fps(codes)
	if fps <= 0.0:
		return {}
	var times := PackedFloat64Array()
	for code: String in codes:
		var t: float = parse_timecode(code, fps)
		if t < 0.0:
			return {}
		times.append(t)
	var start: float = times[0]
	for f: int in times.size():
		times[f] = times[f] - start
	var values := PackedFloat32Array()
	values.resize(codes.size() * channels.size())
	for f: int in codes.size():
		for c: int in channels.size():
			var cell: String = rows[f + 1][columns[c]].strip_edges()
			if not cell.is_valid_float():
				return _fail("row %d, column %s: '%s' is not a number" % [f + 2, header[columns[c]], cell])
			values[f * channels.size() + c] = cell.to_float()
	return _clip(channels, times, values, fps)


## Seconds of `HH:MM:SS:FF[.fff]` at `fps`; -1 with `error` set when malformed or FF does not exist at `fps`.
func parse_timecode(text: String, fps: float) -> float:
	var parts: PackedStringArray = text.strip_edges().split(":")
	if parts.size() != 4 or not (parts[0].is_valid_int() and parts[1].is_valid_int() and parts[2].is_valid_int()
			and parts[3].is_valid_float()):
		_fail("bad Live Link Face timecode '%s'; expected HH:MM:SS:FF.fff" % text)
		return -1.0
	var ff: float = parts[3].to_float()
	if ff >= fps:
		_fail("timecode '%s' counts frame %s, which does not exist at %s fps: give the take's rate" % [text, ff, fps])
		return -1.0
	return parts[0].to_int() * 3600.0 + parts[1].to_int() * 60.0 + parts[2].to_int() + ff / fps


## The take's rate from its FF fields: before a take spans a whole second FF only says "at least this".
func infer_fps(codes: PackedStringArray) -> float:
	var max_ff: int = 0
	var seconds: Dictionary = {}
	for code: String in codes:
		var parts: PackedStringArray = code.strip_edges().split(":")
		if parts.size() != 4 or not parts[3].is_valid_float():
			_fail("bad Live Link Face timecode '%s'; expected HH:MM:SS:FF.fff" % code)
			return -1.0
		max_ff = maxi(max_ff, floori(parts[3].to_float()))
		seconds[parts[2]] = true
	if seconds.size() <= 1 and max_ff < DEFAULT_FPS:
		return DEFAULT_FPS
	for rate: float in STANDARD_FPS:
		if max_ff < rate:
			return rate
	return max_ff + 1.0


## The Animation of a parsed clip under this loader's paths; null with `error` set when the paths need channels
## the clip lacks or two channels land on one blend shape.
func build_animation(clip: Dictionary) -> Animation:
	var channels: PackedStringArray = clip["channels"]
	var times: PackedFloat64Array = clip["times_s"]
	var values: PackedFloat32Array = clip["values"]
	var n_channels: int = channels.size()
	var animation := Animation.new()
	animation.length = times[times.size() - 1]
	animation.step = 1.0 / float(clip["fps"])
	var shapes_seen: Dictionary = {}
	for c: int in n_channels:
		if channels[c].to_lower() in POSE_CHANNELS:
			continue
		var shape: String = blend_shape_remap.get(channels[c], shape_prefix + channels[c])
		if shape == "":
			continue
		if shapes_seen.has(shape):
			error = "two channels map to the blend shape '%s': fix blend_shape_remap" % shape
			return null
		shapes_seen[shape] = true
		for mesh_path: NodePath in mesh_paths:
			var track: int = animation.add_track(Animation.TYPE_BLEND_SHAPE)
			animation.track_set_path(track, NodePath("%s:%s" % [mesh_path, shape]))
			for f: int in times.size():
				animation.blend_shape_track_insert_key(track, times[f], values[f * n_channels + c])
	if not head_path.is_empty():
		var pose: PackedInt32Array = _channels_or_fail(channels, ["headpitch", "headyaw", "headroll"])
		if pose.is_empty():
			return null
		var w: float = head_pose_weight
		# As VasaBridgeFace: pitch nods down about +X, yaw turns to +Y, roll tilts about -Z.
		var head_pose := func(f: int) -> Basis:
			return Basis.from_euler(Vector3(values[f * n_channels + pose[0]] * w, values[f * n_channels + pose[1]] * w,
				-values[f * n_channels + pose[2]] * w), EULER_ORDER_YXZ)
		_add_rotation(animation, head_path, head_rest, times, head_pose)
	if not eye_left_path.is_empty() or not eye_right_path.is_empty():
		var gaze: PackedInt32Array = _channels_or_fail(channels, ["gazepitch", "gazeyaw"])
		if gaze.is_empty():
			return null
		var eye_pose := func(f: int) -> Basis:
			return Basis.from_euler(Vector3(-values[f * n_channels + gaze[0]], values[f * n_channels + gaze[1]], 0.0),
				EULER_ORDER_YXZ)
		if not eye_left_path.is_empty():
			_add_rotation(animation, eye_left_path, eye_left_rest, times, eye_pose)
		if not eye_right_path.is_empty():
			_add_rotation(animation, eye_right_path, eye_right_rest, times, eye_pose)
	error = ""
	return animation


func _add_rotation(animation: Animation, path: NodePath, rest: Quaternion, times: PackedFloat64Array,
		pose_at: Callable) -> void:
	var track: int = animation.add_track(Animation.TYPE_ROTATION_3D)
	animation.track_set_path(track, path)
	for f: int in times.size():
		var basis: Basis = pose_at.call(f)
		animation.rotation_track_insert_key(track, times[f], rest * basis.get_rotation_quaternion())


func _channels_or_fail(channels: PackedStringArray, names: Array) -> PackedInt32Array:
	var found := PackedInt32Array()
	for name: String in names:
		var i: int = -1
		for c: int in channels.size():
			if channels[c].to_lower() == name:
				i = c
		if i < 0:
			error = "the clip has no %s channel, which the head/eye tracks need: clear that path" % name
			return PackedInt32Array()
		found.append(i)
	return found


func _clip(channels: PackedStringArray, times: PackedFloat64Array, values: PackedFloat32Array,
		fps: float) -> Dictionary:
	for f: int in range(1, times.size()):
		if times[f] <= times[f - 1]:
			return _fail("frame %d is not later than frame %d" % [f, f - 1])
	error = ""
	return {"channels": channels, "times_s": times, "values": values, "fps": fps}


func _fail(why: String) -> Dictionary:
	error = why
	return {}
