class_name VasaHeadStage
extends Node3D
## A ready-made stage for a head: camera framing the face, key and fill lights, a plain background. The demo and
## the pixel tests use it; a game puts the head in its own scene instead.

var head: Node3D
var face_mesh: MeshInstance3D
var camera: Camera3D


## Adds a stage holding `loaded_head` under `parent` and returns it.
static func build(parent: Node, loaded_head: Node3D) -> VasaHeadStage:
	var stage := VasaHeadStage.new()
	stage.name = "HeadStage"
	parent.add_child(stage)
	stage.head = loaded_head
	stage.add_child(loaded_head)
	stage.face_mesh = loaded_head.find_child("head", true, false) as MeshInstance3D
	var env := WorldEnvironment.new()
	env.environment = Environment.new()
	env.environment.background_mode = Environment.BG_COLOR
	env.environment.background_color = Color(0.16, 0.18, 0.22)
	env.environment.ambient_light_source = Environment.AMBIENT_SOURCE_COLOR
	env.environment.ambient_light_color = Color(0.55, 0.55, 0.6)
	stage.add_child(env)
	var key := DirectionalLight3D.new()
	key.rotation = Vector3(-0.5, 0.45, 0.0)
	stage.add_child(key)
	var fill := DirectionalLight3D.new()
	fill.rotation = Vector3(-0.2, -0.8, 0.0)
	fill.light_energy = 0.4
	stage.add_child(fill)
	stage.camera = Camera3D.new()
	stage.camera.fov = 30.0
	stage.add_child(stage.camera)
	stage.camera.look_at_from_position(Vector3(0.0, 0.035, 0.62), Vector3(0.0, 0.02, 0.0))
	stage.camera.make_current()
	return stage


## Screen rectangle around the mouth (lip line +-3 cm, corners +-3.5 cm), in viewport pixels.
func mouth_rect_px() -> Rect2i:
	var front_z: float = face_mesh.get_aabb().end.z - 0.012 if face_mesh != null else 0.09
	var a: Vector2 = camera.unproject_position(Vector3(-0.035, 0.02, front_z))
	var b: Vector2 = camera.unproject_position(Vector3(0.035, -0.045, front_z))
	return Rect2i(Vector2i(mini(int(a.x), int(b.x)), mini(int(a.y), int(b.y))),
		Vector2i(absi(int(b.x - a.x)), absi(int(b.y - a.y))))
