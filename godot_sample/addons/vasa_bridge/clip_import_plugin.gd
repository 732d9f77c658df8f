@tool
extends EditorImportPlugin
## Imports a baked line as an AnimationLibrary (one Animation named after the file) through VasaClipLoader.
## Godot imports .csv as translations by default: select the file, Import dock → Import As → "vasa_bridge Baked
## Clip", then Reimport. JSON clips (`.json` is not an imported type in Godot) load at run time with
## `VasaClipLoader.load_library()`. Paths are relative to the AnimationPlayer's root node.

const LOADER := preload("res://addons/vasa_bridge/clip_loader.gd")


func _get_importer_name() -> String:
	return "vasa_bridge.baked_clip"


func _get_visible_name() -> String:
	return "vasa_bridge Baked Clip"


func _get_recognized_extensions() -> PackedStringArray:
	return PackedStringArray(["csv"])


func _get_save_extension() -> String:
	return "res"


func _get_resource_type() -> String:
	return "AnimationLibrary"


## Below the translation importer's 1.0, so .csv files stay translations unless chosen in Import As.
func _get_priority() -> float:
	return 0.5


func _get_import_order() -> int:
	return 0


func _get_preset_count() -> int:
	return 1


func _get_preset_name(_preset_index: int) -> String:
	return "Default"


func _get_import_options(_path: String, _preset_index: int) -> Array[Dictionary]:
	return [
		{"name": "mesh_paths", "default_value": PackedStringArray(["head"]),
			"hint_string": "MeshInstance3D paths from the AnimationPlayer's root node"},
		{"name": "shape_prefix", "default_value": ""},
		{"name": "blend_shape_remap", "default_value": {}},
		{"name": "head_path", "default_value": NodePath("")},
		{"name": "head_pose_weight", "default_value": 1.0, "property_hint": PROPERTY_HINT_RANGE,
			"hint_string": "0,2,0.01"},
		{"name": "eye_left_path", "default_value": NodePath("")},
		{"name": "eye_right_path", "default_value": NodePath("")},
		{"name": "timecode_fps", "default_value": 0.0,
			"hint_string": "rate the CSV timecodes count frames at; 0 infers it"},
	]


func _get_option_visibility(_path: String, _option_name: StringName, _options: Dictionary) -> bool:
	return true


func _import(source_file: String, save_path: String, options: Dictionary, _platform_variants: Array[String],
		_gen_files: Array[String]) -> Error:
	var loader: VasaClipLoader = LOADER.new()
	var paths: Array[NodePath] = []
	for path: String in options["mesh_paths"]:
		paths.append(NodePath(path))
	loader.mesh_paths = paths
	loader.shape_prefix = options["shape_prefix"]
	loader.blend_shape_remap = options["blend_shape_remap"]
	loader.head_path = options["head_path"]
	loader.head_pose_weight = options["head_pose_weight"]
	loader.eye_left_path = options["eye_left_path"]
	loader.eye_right_path = options["eye_right_path"]
	loader.timecode_fps = options["timecode_fps"]
	var library: AnimationLibrary = loader.load_library(source_file)
	if library == null:
		push_error("vasa_bridge: cannot import %s: %s" % [source_file, loader.error])
		return ERR_PARSE_ERROR
	return ResourceSaver.save(library, "%s.%s" % [save_path, _get_save_extension()])
