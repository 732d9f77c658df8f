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
## Live Link Face rotations (docs/interop.md, as interop/live_link_face.py `from_values` reads them): Unreal's
## ARKit convention, an angle in degrees / 180 (1.0 is half a turn), pitch > 0 looking down, yaw > 0 turned to the
## subject's right, two converging eyes. Each becomes a channel of our layout (radians, yaw > 0 to the subject's
## left, gaze pitch > 0 up): channel -> [sign, columns averaged]; gaze is the mean of the two eyes.
const CSV_ROTATIONS: Dictionary = {
	"headYaw": [-1.0, ["headyaw"]], "headPitch": [1.0, ["headpitch"]], "headRoll": [1.0, ["headroll"]],
	"gazeYaw": [-1.0, ["lefteyeyaw", "righteyeyaw"]], "gazePitch": [-1.0, ["lefteyepitch", "righteyepitch"]]}
## A CSV rotation value of 1.0 in radians (live_link_face.ROTATION_UNIT_RAD).
const CSV_ROTATION_UNIT_RAD: float = PI
## Our optional head translation columns (metres), kept as they are.
const CSV_TRANSLATIONS: PackedStringArray = ["headX", "headY", "headZ"]
## Not curves: the row's time, the app's value count, eye torsion (not modelled, always 0).
const CSV_IGNORED: PackedStringArray = ["timecode", "blendshapecount", "lefteyeroll", "righteyeroll"]
## Standard take rates: a CSV take that crosses a second is numbered at the smallest one above its largest FF field.
const STANDARD_FPS: PackedFloat64Array = [24.0, 25.0, 30.0, 50.0, 60.0, 120.0]
## FF's rate for a take within one second: the app numbers every take in 60ths (clip_io.TIMECODE_FPS); older
## vasa_bridge CSVs numbered in 25ths, for those set `timecode_fps` to 25.
const TIMECODE_FPS: float = 60.0
const SECONDS_PER_DAY: float = 86400.0

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
## CSV only: the rate its timecodes' FF fields count in; 0 infers it (as clip_io.py does).
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


## Live Link Face CSV, read as vasa_bridge reads it (clip_io.read_live_link_csv), so the CSV and the JSON bake of
## one line animate alike: `Timecode` is HH:MM:SS:FF[.fff], the row's time of day with FF in 60ths whatever the
## take's rate; the rows are keyed at their own times (a baked CSV holds the 25-fps motion resampled to 60 fps);
## rotations become our layout's channels (see CSV_ROTATIONS); empty rows (the app's dropped frames) are skipped,
## a repeated timecode keeps its first row, a take across midnight keeps going.
func parse_csv(text: String) -> Dictionary:
	var rows: Array[PackedStringArray] = []
	var row_numbers := PackedInt32Array()  # 1-based, the header being row 1, for messages
	for line: String in text.trim_prefix(char(0xFEFF)).split("\n", false):
		if line.strip_edges() != "":
			rows.append(line.strip_edges().split(","))
	if rows.size() < 2 or rows[0][0].strip_edges().to_lower() != "timecode":
		return _fail("not a Live Link Face CSV: the first column must be Timecode, followed by data rows")
	var header: PackedStringArray = rows[0]
	var column_of: Dictionary = {}
	for i: int in header.size():
		var column: String = header[i].strip_edges().to_lower()
		if column == "":
			continue
		if column_of.has(column):
			return _fail("column %s appears twice" % header[i].strip_edges())
		column_of[column] = i
	var body: Array[PackedStringArray] = []
	for r: int in range(1, rows.size()):
		if rows[r].size() != header.size() or _has_empty_cell(rows[r]):
			continue
		body.append(rows[r])
		row_numbers.append(r + 1)
	if body.is_empty():
		return _fail("no data rows with the header's %d fields" % header.size())
	var codes := PackedStringArray()
	for row: PackedStringArray in body:
		codes.append(row[0])
	var fps: float = timecode_fps if timecode_fps > 0.0 else infer_fps(codes)
	if fps <= 0.0:
		return {}
	var start: float = parse_timecode(codes[0], fps)
	if start < 0.0:
		return {}
	var keep := PackedInt32Array()
	var times := PackedFloat64Array()
	for f: int in codes.size():
		var t: float = parse_timecode(codes[f], fps)
		if t < 0.0:
			return {}
		t -= start
		# A take across midnight starts again at 00:00:00: a drop of most of a day, not a row out of order.
		if t < -SECONDS_PER_DAY / 2.0:
			t += SECONDS_PER_DAY
		if not times.is_empty() and t < times[times.size() - 1]:
			return _fail(("timecode '%s' is not later than the row before it: the timecodes go backwards (read at %s"
				+ " fps numbering; give the take's rate)") % [codes[f].strip_edges(), fps])
		if not times.is_empty() and t == times[times.size() - 1]:
			continue  # a repeated timecode: the first row wins
		keep.append(f)
		times.append(t)

	var channels := PackedStringArray()
	var curves: Array[PackedFloat64Array] = []
	var pose_columns: Dictionary = {}
	for channel: String in CSV_ROTATIONS:
		for column: String in CSV_ROTATIONS[channel][1]:
			pose_columns[column] = true
	for column: String in CSV_TRANSLATIONS:
		pose_columns[column.to_lower()] = true
	for i: int in header.size():
		var column: String = header[i].strip_edges()
		var lower: String = column.to_lower()
		if column == "" or lower in CSV_IGNORED or pose_columns.has(lower):
			continue
		var shape: PackedFloat64Array = _csv_column(body, keep, row_numbers, i, column)
		if shape.is_empty():
			return {}
		# Blend shapes: Live Link's PascalCase becomes ARKit's camelCase (JawOpen -> jawOpen).
		channels.append(column[0].to_lower() + column.substr(1))
		curves.append(shape)
	for channel: String in CSV_ROTATIONS:
		var flip: float = CSV_ROTATIONS[channel][0]
		var present: Array[PackedFloat64Array] = []
		for column: String in CSV_ROTATIONS[channel][1]:
			if column_of.has(column):
				var angle: PackedFloat64Array = _csv_column(body, keep, row_numbers, column_of[column],
					header[column_of[column]].strip_edges())
				if angle.is_empty():
					return {}
				present.append(angle)
		if present.is_empty():
			continue  # no such column: a head or eye path that needs it says so in build_animation
		var mean := PackedFloat64Array()
		mean.resize(keep.size())
		for k: int in keep.size():
			var sum: float = 0.0
			for angle: PackedFloat64Array in present:
				sum += angle[k]
			mean[k] = flip * CSV_ROTATION_UNIT_RAD * sum / present.size()
		channels.append(channel)
		curves.append(mean)
	for channel: String in CSV_TRANSLATIONS:
		if column_of.has(channel.to_lower()):
			var metres: PackedFloat64Array = _csv_column(body, keep, row_numbers, column_of[channel.to_lower()],
				channel)
			if metres.is_empty():
				return {}
			channels.append(channel)
			curves.append(metres)
	if channels.is_empty():
		return _fail("the CSV has no channel columns after Timecode")
	var lowered: Dictionary = {}
	for channel: String in channels:
		if lowered.has(channel.to_lower()):
			return _fail("column %s appears twice" % channel)
		lowered[channel.to_lower()] = true
	var values := PackedFloat32Array()
	values.resize(keep.size() * channels.size())
	for k: int in keep.size():
		for c: int in channels.size():
			values[k * channels.size() + c] = curves[c][k]
	return _clip(channels, times, values, fps)


func _has_empty_cell(row: PackedStringArray) -> bool:
	for cell: String in row:
		if cell.strip_edges() == "":
			return true
	return false


## One CSV column's numbers at the kept rows; empty with `error` set when a cell is not a number.
func _csv_column(body: Array[PackedStringArray], keep: PackedInt32Array, row_numbers: PackedInt32Array,
		index: int, name: String) -> PackedFloat64Array:
	var values := PackedFloat64Array()
	values.resize(keep.size())
	for k: int in keep.size():
		var cell: String = body[keep[k]][index].strip_edges()
		if not cell.is_valid_float():
			_fail("row %d, column %s: '%s' is not a number" % [row_numbers[keep[k]], name, cell])
			return PackedFloat64Array()
		values[k] = cell.to_float()
	return values


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


## The rate the FF fields count in (clip_io._infer_numbering_fps): a take that crosses a second shows FF's top, so
## the smallest standard rate above the largest FF; a shorter one is numbered in 60ths, as the app does.
func infer_fps(codes: PackedStringArray) -> float:
	var max_ff: int = 0
	var seconds: Dictionary = {}
	for code: String in codes:
		var parts: PackedStringArray = code.strip_edges().split(":")
		if parts.size() != 4 or not parts[3].is_valid_float():
			_fail("bad Live Link Face timecode '%s'; expected HH:MM:SS:FF.fff" % code)
			return -1.0
		max_ff = maxi(max_ff, floori(parts[3].to_float()))
		seconds[":".join(parts.slice(0, 3)).strip_edges()] = true
	if seconds.size() <= 1 and max_ff < TIMECODE_FPS:
		return TIMECODE_FPS
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
