class_name VasaBridgeTexture
extends Node
## Shows rendered frames from the sidecar (`render` batches, SPEC.md §5.2: JPEG or RGBA images) on a target:
## a TextureRect, Sprite2D or Sprite3D (its `texture`), or a GeometryInstance3D (a `material_parameter` of its
## material override: StandardMaterial3D albedo by default, or a ShaderMaterial uniform).
## With a `face` set, each image is shown when that face's audio clock reaches the image's pts; otherwise as soon
## as it arrives. Ask the sidecar for frames by adding "frames_jpeg" (or "frames_rgba") to the face's `outputs`.

signal frame_shown(seq: int)

@export var client: VasaBridgeClient
@export var face: VasaBridgeFace
@export var target: Node
@export var material_parameter: StringName = &"albedo_texture"
## Only frames of this session, or of the face's current session when empty.
@export var session: String = ""

var texture: ImageTexture = null
var frames_shown: int = 0
var frames_failed: int = 0

var _queue: Array = []  # [seq, pts_ms, Image], in arrival (= seq) order
var _fps: float = VasaProtocol.FPS_DEFAULT


func _ready() -> void:
	if client == null and face != null:
		client = face.client
	if client != null:
		client.render_received.connect(_on_render)


func _process(_delta: float) -> void:
	if _queue.is_empty():
		return
	var now_ms: float = face.current_time_ms if face != null else INF
	var due: Array = []
	while not _queue.is_empty() and float(_queue[0][1]) <= now_ms:
		due = _queue.pop_front()
	if not due.is_empty():
		show_image(due[2])
		frame_shown.emit(int(due[0]))


## Decodes the images of one `render` message into the queue. Returns how many decoded.
func add_render(msg: Dictionary) -> int:
	var wanted: String = session if session != "" else (face.session if face != null else "")
	if wanted != "" and str(msg.get("session", "")) != wanted:
		return 0
	var images: Variant = msg.get("images")
	if not (images is Array):
		frames_failed += 1
		return 0
	var seq0: int = int(msg.get("seq", 0))
	var pts0: float = float(msg.get("pts_ms", 0.0))
	var added: int = 0
	for i: int in (images as Array).size():
		var image := decode_image(images[i], str(msg.get("format", "")), int(msg.get("width", 0)),
			int(msg.get("height", 0)))
		if image == null:
			frames_failed += 1
			continue
		_queue.append([seq0 + i, pts0 + i * 1000.0 / _fps, image])
		added += 1
	return added


static func decode_image(blob: Variant, format: String, width: int, height: int) -> Image:
	if typeof(blob) != TYPE_PACKED_BYTE_ARRAY:
		return null
	var bytes: PackedByteArray = blob
	if format == "jpeg":
		var image := Image.new()
		return image if image.load_jpg_from_buffer(bytes) == OK else null
	if format == "rgba" and width > 0 and height > 0 and bytes.size() == width * height * 4:
		return Image.create_from_data(width, height, false, Image.FORMAT_RGBA8, bytes)
	return null


func show_image(image: Image) -> void:
	if texture == null or texture.get_size() != Vector2(image.get_size()):
		texture = ImageTexture.create_from_image(image)
		_attach()
	else:
		texture.update(image)
	frames_shown += 1


func _attach() -> void:
	if target is TextureRect or target is Sprite2D or target is Sprite3D:
		target.texture = texture
	elif target is GeometryInstance3D:
		var material: Material = (target as GeometryInstance3D).material_override
		if material == null:
			material = StandardMaterial3D.new()
			(target as GeometryInstance3D).material_override = material
		if material is ShaderMaterial:
			(material as ShaderMaterial).set_shader_parameter(material_parameter, texture)
		else:
			material.set(material_parameter, texture)


func _on_render(_from_session: String, msg: Dictionary) -> void:
	if client != null:
		_fps = float(client.server_info.get("fps", VasaProtocol.FPS_DEFAULT))
	add_render(msg)
