@tool
extends EditorPlugin
## Editor side of the addon. The nodes register themselves through `class_name`, so enabling the plugin only
## adds a check that the project's renderer and the addon's protocol version are what the user expects, and the
## importer that turns baked lines (.csv) into AnimationLibraries.

var _clip_importer: EditorImportPlugin


func _enter_tree() -> void:
	print("vasa_bridge %s addon enabled (protocol %s): add a VasaBridgeFace to drive a face" % [
		"0.1.0", VasaProtocol.VERSION])
	_clip_importer = preload("res://addons/vasa_bridge/clip_import_plugin.gd").new()
	add_import_plugin(_clip_importer)


func _exit_tree() -> void:
	remove_import_plugin(_clip_importer)
	_clip_importer = null
