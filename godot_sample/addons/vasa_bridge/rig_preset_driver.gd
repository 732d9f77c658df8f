class_name VasaRigPresetDriver
extends Node
## Drives a rig that does not use ARKit names from a VasaBridgeFace through a VasaRigPreset: each frame, blend
## shapes of `meshes` that stand for a preset target (VasaRigPreset.match_shape: the target's name, or a name
## ending in "_" + it, case-insensitive) get that target's weight. Rigs whose expressions are not blend shapes
## (e.g. VRM expressions imported as animations) can read `weights` (or `weight("aa")`, or the
## `weights_updated` signal) and apply them their own way.

## Emitted after each frame's weights are computed.
signal weights_updated(weights: PackedFloat32Array)

@export var face: VasaBridgeFace
@export_enum("vrm1", "vrm0", "oculus_visemes", "cc4_extended", "arkit_lr") var preset_name: String = "vrm1"
@export var meshes: Array[NodePath] = []
## Scales every target weight (1 = as the table says).
@export_range(0.0, 2.0) var weight_scale: float = 1.0

var preset: VasaRigPreset
var weights: PackedFloat32Array = PackedFloat32Array()
## [MeshInstance3D, blend shape index, target index] triples.
var bindings: Array = []

var _arkit: PackedFloat32Array = PackedFloat32Array()


func _ready() -> void:
	var presets: Dictionary = VasaRigPreset.load_table()
	preset = presets.get(preset_name)
	if preset == null:
		push_error("VasaRigPresetDriver: no preset '%s'; choose one of %s" % [preset_name, presets.keys()])
		set_process(false)
		return
	weights.resize(preset.targets.size())
	_arkit.resize(VasaProtocol.ARKIT_NAMES.size())
	bind()


## (Re)matches the blend shapes of `meshes` to the preset's targets; call after changing `meshes`.
func bind() -> void:
	bindings.clear()
	for path: NodePath in meshes:
		var mesh_instance := get_node_or_null(path) as MeshInstance3D
		if mesh_instance == null or not (mesh_instance.mesh is ArrayMesh):
			push_warning("VasaRigPresetDriver: %s is not a MeshInstance3D with an ArrayMesh" % path)
			continue
		var mesh := mesh_instance.mesh as ArrayMesh
		for shape: int in mesh.get_blend_shape_count():
			var k: int = preset.match_shape(String(mesh.get_blend_shape_name(shape)))
			if k >= 0:
				bindings.append([mesh_instance, shape, k])


## Current weight of a target (0..1), or 0 if the preset has no such target.
func weight(target: String) -> float:
	var k: int = preset.index_of(target) if preset != null else -1
	return weights[k] if k >= 0 and k < weights.size() else 0.0


func _process(_delta: float) -> void:
	if face == null or preset == null:
		return
	for i: int in VasaProtocol.ARKIT_NAMES.size():
		_arkit[i] = face.channel_value(VasaProtocol.ARKIT_NAMES[i])
	weights = preset.apply(_arkit)
	for k: int in weights.size():
		weights[k] *= weight_scale
	for binding: Array in bindings:
		(binding[0] as MeshInstance3D).set_blend_shape_value(binding[1], weights[binding[2]])
	weights_updated.emit(weights)
