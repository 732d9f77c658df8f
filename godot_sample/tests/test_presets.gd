extends RefCounted
## Rig presets in the engine: the addon's table loads from res://, VasaRigPreset applies it (the weights are
## printed as "VASA_PRESET preset target frame value" lines that tests/test_godot.py compares with Python's),
## blend-shape names match targets as in Python and C#, and VasaRigPresetDriver drives a mesh's blend shapes
## from a VasaBridgeFace.

## Shape names and the target each stands for ("" for none): the same cases as tests/test_rig_presets.py.
const SHAPES: Array = [
	["oculus_visemes", "viseme_aa", "aa"], ["oculus_visemes", "Wolf3D_Head.viseme_PP", "PP"],
	["vrm0", "Fcl_MTH_A", "A"], ["vrm0", "Fcl_ALL_Joy", "Joy"], ["vrm1", "AA", "aa"],
	["cc4_extended", "CC_Base_Body.Mouth_Smile_L", "Mouth_Smile_L"], ["arkit_lr", "eyeBlink_L", "eyeBlink_L"],
	["vrm1", "Fcl_ALL_Neutral", ""], ["cc4_extended", "Mouth_Smile", ""],
]
const N_FRAMES: int = 4


## Frame f of the 52 ARKit values, a formula tests/test_godot.py repeats: (i x 7 + f x 13) mod 29 / 28.
static func frame_values(f: int) -> PackedFloat32Array:
	var values := PackedFloat32Array()
	for i: int in VasaProtocol.ARKIT_NAMES.size():
		values.append(float((i * 7 + f * 13) % 29) / 28.0)
	return values


func run(tree: SceneTree, t: VasaTestReport, _options: Dictionary) -> void:
	var presets: Dictionary = VasaRigPreset.load_table()
	t.check("presets_table_loads", presets.size() == 5, "%s" % [presets.keys()])
	if presets.size() != 5:
		return
	for key: String in presets:
		var preset: VasaRigPreset = presets[key]
		for f: int in N_FRAMES:
			var weights: PackedFloat32Array = preset.apply(frame_values(f))
			for k: int in weights.size():
				print("VASA_PRESET %s %s %d %.7f" % [key, preset.targets[k], f, weights[k]])
	var wrong: Array = []
	for case: Array in SHAPES:
		var preset: VasaRigPreset = presets[case[0]]
		var k: int = preset.match_shape(case[1])
		if (preset.targets[k] if k >= 0 else "") != case[2]:
			wrong.append(case)
	t.check("presets_shape_names_match_targets", wrong.is_empty(), "mismatched %s" % [wrong])
	_driver(tree, t)


## A mesh with Ready Player Me viseme shapes, driven from a face whose frame has an open jaw.
func _driver(tree: SceneTree, t: VasaTestReport) -> void:
	var mesh := ArrayMesh.new()
	for shape_name: String in ["viseme_sil", "viseme_aa", "viseme_U", "unrelated"]:
		mesh.add_blend_shape(shape_name)
	var arrays: Array = []
	arrays.resize(Mesh.ARRAY_MAX)
	arrays[Mesh.ARRAY_VERTEX] = PackedVector3Array([Vector3.ZERO, Vector3.RIGHT, Vector3.UP])
	var shape_arrays: Array = []
	for i: int in 4:
		var blend: Array = []
		blend.resize(Mesh.ARRAY_MAX)
		blend[Mesh.ARRAY_VERTEX] = PackedVector3Array([Vector3.ZERO, Vector3.RIGHT, Vector3.UP * (1.0 + i)])
		shape_arrays.append(blend)
	mesh.add_surface_from_arrays(Mesh.PRIMITIVE_TRIANGLES, arrays, shape_arrays)
	var instance := MeshInstance3D.new()
	instance.name = "VisemeMesh"
	instance.mesh = mesh
	var face := VasaBridgeFace.new()
	face.client = VasaBridgeClient.new()
	face.client.connect_on_ready = false
	face.client.reconnect = false
	var root := Node3D.new()
	tree.root.add_child(root)
	root.add_child(instance)
	root.add_child(face.client)
	root.add_child(face)
	var driver := VasaRigPresetDriver.new()
	driver.face = face
	driver.preset_name = "oculus_visemes"
	driver.meshes.append(NodePath("../VisemeMesh"))
	root.add_child(driver)
	var values := PackedFloat32Array()
	values.resize(VasaProtocol.default_channel_names().size())
	values[VasaProtocol.ARKIT_NAMES.find("jawOpen")] = 0.62
	values[VasaProtocol.ARKIT_NAMES.find("mouthLowerDownLeft")] = 0.25
	values[VasaProtocol.ARKIT_NAMES.find("mouthLowerDownRight")] = 0.25
	face.current_values = values
	driver._process(0.0)
	var aa: float = instance.get_blend_shape_value(1)
	var sil: float = instance.get_blend_shape_value(0)
	t.check("presets_driver_binds_rpm_viseme_shapes", driver.bindings.size() == 3,
		"%d bindings (viseme_sil, viseme_aa, viseme_U; not 'unrelated')" % driver.bindings.size())
	t.check("presets_driver_drives_the_open_jaw_as_aa", aa > 0.9 and sil == 0.0 and is_equal_approx(
		aa, driver.weight("aa")), "viseme_aa %.3f, viseme_sil %.3f" % [aa, sil])
	root.queue_free()
