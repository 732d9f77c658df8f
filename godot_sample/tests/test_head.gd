extends RefCounted
## The generated demo head (`vasa-bridge avatar export`) loads at run time through GLTFDocument (no editor import)
## with all 52 ARKit blend shapes, found by name, and VasaBridgeFace binds every one of them to its channel.

const HEAD_PATH: String = "res://test_data/vasa_head.glb"


func run(tree: SceneTree, t: VasaTestReport, _options: Dictionary) -> void:
	var started: int = Time.get_ticks_usec()
	var head: Node = VasaHeadLoader.load_head(HEAD_PATH)
	var load_ms: float = (Time.get_ticks_usec() - started) / 1000.0
	if not t.check("head_loads_with_gltfdocument", head != null, "%s in %.0f ms" % [HEAD_PATH, load_ms]):
		return
	tree.root.add_child(head)
	var mesh := head.find_child("head", true, false) as MeshInstance3D
	var missing: PackedStringArray = []
	var count: int = 0
	if mesh != null:
		count = mesh.mesh.get_blend_shape_count()
		for name: String in VasaProtocol.ARKIT_NAMES:
			if mesh.find_blend_shape_by_name(name) < 0:
				missing.append(name)
	t.check("head_has_52_arkit_targets_by_name", mesh != null and count == 52 and missing.is_empty(),
		"mesh 'head' %s, %d blend shapes, missing %s" % [mesh != null, count, missing])
	var face := VasaBridgeFace.new()
	face.client = VasaBridgeClient.new()
	face.client.connect_on_ready = false
	face.client.reconnect = false
	head.add_child(face.client)
	head.add_child(face)
	face.meshes.append(face.get_path_to(mesh))
	for eye_name: String in ["eyeLeft", "eyeRight"]:
		var eye := head.find_child(eye_name, true, false) as MeshInstance3D
		if eye != null:
			face.meshes.append(face.get_path_to(eye))
	face.bind()
	var head_bound: int = face.bindings.filter(func(b: Array) -> bool: return b[0] == mesh).size()
	t.check("head_face_binds_all_52", head_bound == 52 and face.unmatched.is_empty(),
		"%d head bindings, %d in all, unmatched %s" % [head_bound, face.bindings.size(), face.unmatched])
	# Case-insensitive names and a VRM-style remap reach the same channels.
	var remap: Dictionary = {"aa": "jawOpen"}
	var jaw: int = VasaProtocol.default_channel_names().find("jawOpen")
	t.check("face_matches_names_case_insensitively",
		face.channel_for_shape("JAWOPEN", {}) == jaw and face.channel_for_shape("blendShape1.jawOpen", {}) == jaw
		and face.channel_for_shape("aa", remap) == jaw and face.channel_for_shape("notAShape", {}) == -1,
		"JAWOPEN, blendShape1.jawOpen and remapped aa -> channel %d" % jaw)
	var values := PackedFloat32Array()
	values.resize(60)
	values[jaw] = 0.75
	values[VasaProtocol.default_channel_names().find("headYaw")] = 0.3
	face.head_node = head as Node3D
	face.bind()
	face.apply_values(values)
	var jaw_now: float = mesh.get_blend_shape_value(mesh.find_blend_shape_by_name("jawOpen"))
	var yaw_now: float = (head as Node3D).rotation.y
	t.check("face_applies_values_to_rig", absf(jaw_now - 0.75) < 1e-6 and absf(yaw_now - 0.3) < 1e-5,
		"jawOpen %.4f (want 0.75), head yaw %.4f rad (want 0.3)" % [jaw_now, yaw_now])
	head.queue_free()
	await tree.process_frame
