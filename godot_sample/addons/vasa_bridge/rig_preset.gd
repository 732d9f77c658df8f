class_name VasaRigPreset
extends RefCounted
## One rig preset of `rig_presets.json` (a byte-equal copy of vasa_bridge/interop/rig_presets.json, checked by
## tests/test_rig_presets.py): ARKit blendshapes -> the blend shapes or expressions of another rig. Presets:
## "vrm1", "vrm0" (VRM expressions), "oculus_visemes" (the 15 Oculus/Meta visemes), "cc4_extended"
## (Reallusion CC4 Extended), "arkit_lr" (ARKit names with _L/_R). Each target is
## clamp(bias + sum(weight x ARKit value), 0, 1).

const TABLE_PATH: String = "res://addons/vasa_bridge/rig_presets.json"
const FORMAT: String = "vasa_bridge.rig_presets"

var preset_name: String = ""
var description: String = ""
## Target names (rig blend shapes or expressions), in the table's order.
var targets: PackedStringArray = PackedStringArray()

var _bias: PackedFloat32Array = PackedFloat32Array()
## Per target: ARKit source indices into VasaProtocol.ARKIT_NAMES (-1: unknown name) and their weights.
var _sources: Array[PackedInt32Array] = []
var _weights: Array[PackedFloat32Array] = []


## Every preset of the table at `path`, by name; {} (with an error pushed) if it cannot be read.
static func load_table(path: String = TABLE_PATH) -> Dictionary:
	var text: String = FileAccess.get_file_as_string(path)
	var doc: Variant = JSON.parse_string(text)
	if typeof(doc) != TYPE_DICTIONARY or (doc as Dictionary).get("format", "") != FORMAT:
		push_error("VasaRigPreset: %s is not a %s table" % [path, FORMAT])
		return {}
	var presets: Dictionary = {}
	var all: Dictionary = (doc as Dictionary).get("presets", {})
	for key: String in all:
		presets[key] = from_dict(key, all[key])
	return presets


## A preset from its table entry ({"description": ..., "targets": [{"name", "bias", "from": [[arkit, w]]}]}).
static func from_dict(key: String, body: Dictionary) -> VasaRigPreset:
	var preset := VasaRigPreset.new()
	preset.preset_name = key
	preset.description = str(body.get("description", ""))
	for target: Dictionary in body.get("targets", []):
		preset.targets.append(str(target["name"]))
		preset._bias.append(float(target.get("bias", 0.0)))
		var sources := PackedInt32Array()
		var weights := PackedFloat32Array()
		for pair: Array in target.get("from", []):
			sources.append(VasaProtocol.ARKIT_NAMES.find(str(pair[0])))
			weights.append(float(pair[1]))
		preset._sources.append(sources)
		preset._weights.append(weights)
	return preset


## Index of a target by name (case-insensitive), or -1.
func index_of(target: String) -> int:
	var lower: String = target.to_lower()
	for k: int in targets.size():
		if targets[k].to_lower() == lower:
			return k
	return -1


## Target index a rig's blend shape stands for, or -1: its name (after any "prefix." a DCC tool added) equals a
## target, or ends with "_" + a target (VRoid's Fcl_MTH_A -> A, Ready Player Me's viseme_aa -> aa);
## case-insensitive. Python and C# use the same rule.
func match_shape(shape_name: String) -> int:
	var lower: String = shape_name.get_slice(".", shape_name.get_slice_count(".") - 1).to_lower()
	var k: int = index_of(lower)
	if k >= 0:
		return k
	for i: int in targets.size():
		if lower.ends_with("_" + targets[i].to_lower()):
			return i
	return -1


## Target weights for one frame of the 52 ARKit values (in VasaProtocol.ARKIT_NAMES order).
func apply(arkit: PackedFloat32Array) -> PackedFloat32Array:
	var out := PackedFloat32Array()
	out.resize(targets.size())
	for k: int in targets.size():
		var v: float = _bias[k]
		var sources: PackedInt32Array = _sources[k]
		var weights: PackedFloat32Array = _weights[k]
		for j: int in sources.size():
			if sources[j] >= 0 and sources[j] < arkit.size():
				v += weights[j] * arkit[sources[j]]
		out[k] = clampf(v, 0.0, 1.0)
	return out
