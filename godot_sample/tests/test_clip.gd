extends RefCounted
## A baked line (`vasa-bridge bake`, JSON and Live Link CSV) loaded by VasaClipLoader into an AnimationLibrary,
## played by an AnimationPlayer on the generated head: the mesh's blend shapes and the head and eye rotations equal
## what Python computes from the clip at sampled times (frames and points between them), and while it plays the jaw
## follows the clip at the player's position. Python's expectations: res://test_data/baked_line_expected.json (the
## JSON clip's at the top level, the CSV's, as vasa_bridge reads that file, under "csv").

const HEAD_PATH: String = "res://test_data/vasa_head.glb"
const CLIP_JSON: String = "res://test_data/baked_line.json"
const CLIP_CSV: String = "res://test_data/baked_line.csv"
const CLIP_EDGES: String = "res://test_data/baked_line_edges.csv"
const EXPECTED: String = "res://test_data/baked_line_expected.json"


func run(tree: SceneTree, t: VasaTestReport, _options: Dictionary) -> void:
	var expected: Variant = JSON.parse_string(FileAccess.get_file_as_string(EXPECTED))
	if not t.check("clip_test_data_present", expected is Dictionary, EXPECTED):
		return
	var actor := Node3D.new()
	actor.name = "Actor"
	tree.root.add_child(actor)
	var head := VasaHeadLoader.load_head(HEAD_PATH) as Node3D
	actor.add_child(head)
	var mesh := head.find_child("head", true, false) as MeshInstance3D
	var eye := head.find_child("eyeLeft", true, false) as Node3D
	var player := AnimationPlayer.new()
	actor.add_child(player)
	player.root_node = NodePath("..")

	var loader := VasaClipLoader.new()
	loader.mesh_paths = [actor.get_path_to(mesh)]
	loader.head_path = actor.get_path_to(head)
	loader.head_rest = head.quaternion
	loader.eye_left_path = actor.get_path_to(eye)
	loader.eye_left_rest = eye.quaternion
	var started: int = Time.get_ticks_usec()
	var library: AnimationLibrary = loader.load_library(CLIP_JSON, "line")
	var load_ms: float = (Time.get_ticks_usec() - started) / 1000.0
	if not t.check("clip_json_loads_as_animation_library", library != null and library.has_animation("line"),
			"%s in %.0f ms %s" % [CLIP_JSON, load_ms, loader.error]):
		return
	var animation: Animation = library.get_animation("line")
	t.check("clip_animation_has_52_shape_tracks_and_two_rotation_tracks",
		animation.get_track_count() == 54 and animation.track_get_key_count(0) == int(expected["frames"])
		and absf(animation.length - float(expected["duration_s"])) < 1e-6,
		"%d tracks, %d keys, %.3f s (want 54, %d, %.3f s)" % [animation.get_track_count(),
			animation.track_get_key_count(0), animation.length, expected["frames"], expected["duration_s"]])
	player.add_animation_library("baked", library)
	var eye_rest: Quaternion = eye.quaternion
	_check_samples(t, "clip_json", player, "baked/line", mesh, head, eye, eye_rest, expected, 1e-5)

	# The same line as Live Link Face CSV: its own rows (the 25-fps motion resampled to 60 fps, 6 decimals) at its
	# timecodes, rotations in Unreal's units and signs. The mesh shows what Python's reader makes of the CSV, not the
	# JSON clip: between rows the two differ by the resampling (about 0.01 on a blend shape).
	var csv_expected: Dictionary = expected["csv"]
	var csv_library: AnimationLibrary = loader.load_library(CLIP_CSV, "line")
	if t.check("clip_csv_loads_as_animation_library", csv_library != null, loader.error):
		var csv_animation: Animation = csv_library.get_animation("line")
		t.check("clip_csv_keys_are_its_rows",
			csv_animation.track_get_key_count(0) == int(csv_expected["frames"])
			and absf(csv_animation.length - float(csv_expected["duration_s"])) < 1e-6,
			"%d keys, %.4f s (want %d, %.4f s)" % [csv_animation.track_get_key_count(0), csv_animation.length,
				csv_expected["frames"], csv_expected["duration_s"]])
		player.add_animation_library("baked_csv", csv_library)
		_check_samples(t, "clip_csv", player, "baked_csv/line", mesh, head, eye, eye_rest, csv_expected, 2e-5)

	# A capture across midnight with a dropped frame and a repeated timecode: the rows Python's reader keeps, at its
	# times, with its values (rotations in radians and our signs, gaze the mean of the two eyes).
	var edges: Dictionary = loader.read_clip(CLIP_EDGES)
	var want_edges: Dictionary = expected["edges"]
	var worst_edge: float = INF
	if not edges.is_empty() and edges["times_s"].size() == int(want_edges["rows"]):
		worst_edge = 0.0
		var edge_channels: PackedStringArray = edges["channels"]
		for name: String in want_edges["values"]:
			var c: int = edge_channels.find(name)
			for k: int in edges["times_s"].size():
				var at: int = roundi(edges["times_s"][k] * float(want_edges["fps"]))
				var got: float = edges["values"][k * edge_channels.size() + c] if c >= 0 else INF
				worst_edge = maxf(worst_edge, absf(got - float(want_edges["values"][name][at])))
	t.check("clip_csv_edge_cases_read_as_python_reads_them", worst_edge < 1e-5,
		"%s keys (want %d), worst |value - Python| %.7f %s" % [edges.get("times_s", []).size(), want_edges["rows"],
			worst_edge, loader.error])

	# Played in real time, the jaw is where the clip is at the player's position.
	player.play("baked/line")
	var checked: int = 0
	var worst: float = 0.0
	for _frame: int in 20:
		await tree.process_frame
		var pos: float = player.current_animation_position
		if pos <= 0.0 or not player.is_playing():
			continue
		var want: float = _interp(expected["jaw_open"], float(expected["fps"]), pos)
		var got: float = mesh.get_blend_shape_value(mesh.find_blend_shape_by_name("jawOpen"))
		worst = maxf(worst, absf(got - want))
		checked += 1
	t.check("clip_plays_and_jaw_follows_the_player_position", checked >= 10 and worst < 1e-4,
		"%d frames checked while playing, worst |jawOpen - clip| %.7f" % [checked, worst])
	player.stop()

	# Bad input gives a reason, not a crash or a silent empty animation.
	var bad := VasaClipLoader.new()
	var messages: PackedStringArray = []
	bad.parse_json("{\"format\": \"vasa_bridge.clip\", ")
	messages.append(bad.error)
	bad.parse_json("{\"format\": \"other\"}")
	messages.append(bad.error)
	bad.parse_csv("Timecode,BlendShapeCount,JawOpen\n00:00:00:00.000,61,0\n00:00:00:01.000,61,x\n")
	messages.append(bad.error)
	bad.timecode_fps = 30.0
	bad.parse_csv("Timecode,BlendShapeCount,JawOpen\n00:00:00:00.000,61,0\n00:00:00:45.000,61,1\n")
	messages.append(bad.error)
	bad.head_path = NodePath("Head")
	var no_pose: Dictionary = bad.parse_csv("Timecode,JawOpen\n00:00:00:00.000,0\n00:00:00:01.000,1\n")
	var no_pose_animation: Animation = bad.build_animation(no_pose)
	messages.append(bad.error)
	t.check("clip_bad_input_says_why",
		"not valid JSON" in messages[0] and "not a vasa_bridge.clip" in messages[1] and "'x' is not a number"
		in messages[2] and "does not exist at 30" in messages[3] and no_pose_animation == null
		and "no headpitch channel" in messages[4], " | ".join(messages))
	actor.queue_free()
	await tree.process_frame


func _check_samples(t: VasaTestReport, prefix: String, player: AnimationPlayer, animation_name: String,
		mesh: MeshInstance3D, head: Node3D, eye: Node3D, eye_rest: Quaternion, expected: Dictionary,
		tolerance: float) -> void:
	player.play(animation_name)
	var worst_shape: float = 0.0
	var worst_head: float = 0.0
	var worst_eye: float = 0.0
	var moved: float = 0.0
	for sample: Dictionary in expected["samples"]:
		player.seek(float(sample["t"]), true)
		for name: String in sample["shapes"]:
			var got: float = mesh.get_blend_shape_value(mesh.find_blend_shape_by_name(name))
			worst_shape = maxf(worst_shape, absf(got - float(sample["shapes"][name])))
			moved = maxf(moved, got)
		worst_head = maxf(worst_head, _angle(head.quaternion, _quat(sample["head"])))
		worst_eye = maxf(worst_eye, _angle(eye.quaternion, eye_rest * _quat(sample["eye"])))
	player.stop()
	t.check(prefix + "_blend_shapes_equal_the_clip_at_sampled_times", worst_shape < tolerance and moved > 0.1,
		"%d samples, worst |mesh - clip| %.7f, largest value %.3f" % [expected["samples"].size(), worst_shape, moved])
	t.check(prefix + "_head_and_eye_rotations_equal_the_clip", worst_head < 1e-3 and worst_eye < 1e-3,
		"worst angle to Python's rotation: head %.7f rad, eye %.7f rad" % [worst_head, worst_eye])


static func _quat(xyzw: Array) -> Quaternion:
	return Quaternion(xyzw[0], xyzw[1], xyzw[2], xyzw[3])


static func _angle(a: Quaternion, b: Quaternion) -> float:
	return 2.0 * acos(clampf(absf(a.dot(b)), 0.0, 1.0))


static func _interp(values: Array, fps: float, t_s: float) -> float:
	var x: float = t_s * fps
	var i: int = clampi(floori(x), 0, values.size() - 1)
	var j: int = mini(i + 1, values.size() - 1)
	return lerpf(float(values[i]), float(values[j]), x - i)
