@tool
extends EditorPlugin
## Editor side of the addon. The nodes register themselves through `class_name`, so enabling the plugin only
## adds a check that the project's renderer and the addon's protocol version are what the user expects.


func _enter_tree() -> void:
	print("vasa_bridge %s addon enabled (protocol %s): add a VasaBridgeFace to drive a face" % [
		"0.1.0", VasaProtocol.VERSION])
