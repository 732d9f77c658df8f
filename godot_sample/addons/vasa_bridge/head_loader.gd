class_name VasaHeadLoader
extends RefCounted
## Loads a head (.glb / .gltf with morph targets) at run time with GLTFDocument: no editor import step, so it
## works in exported games and on the web. The demo head comes from `vasa-bridge avatar export -o DIR`.


## The scene of the glTF file at `path` (res://, user:// or an absolute path), or null if it cannot be read.
static func load_head(path: String) -> Node3D:
	var document := GLTFDocument.new()
	var state := GLTFState.new()
	var err: Error = document.append_from_file(path, state)
	if err != OK:
		push_error("VasaHeadLoader: cannot load %s: %s" % [path, error_string(err)])
		return null
	return document.generate_scene(state) as Node3D


## The same from bytes already in memory (e.g. fetched over HTTP).
static func load_head_from_bytes(glb: PackedByteArray) -> Node3D:
	var document := GLTFDocument.new()
	var state := GLTFState.new()
	var err: Error = document.append_from_buffer(glb, "", state)
	if err != OK:
		push_error("VasaHeadLoader: cannot parse the glTF bytes: %s" % error_string(err))
		return null
	return document.generate_scene(state) as Node3D


## The MeshInstance3Ds under `root` that have blend shapes (the face meshes to give VasaBridgeFace).
static func blend_shape_meshes(root: Node) -> Array[MeshInstance3D]:
	var out: Array[MeshInstance3D] = []
	for node: Node in root.find_children("*", "MeshInstance3D", true, false):
		var mi := node as MeshInstance3D
		if mi.mesh is ArrayMesh and (mi.mesh as ArrayMesh).get_blend_shape_count() > 0:
			out.append(mi)
	return out
