extends Node3D
## The demo: the generated head (loaded at run time with GLTFDocument), a line of text and a Speak button. The
## text becomes speech at `speech_url` (the demo server's espeak-ng endpoint: pcm16, rate in X-Sample-Rate),
## the speech goes to the sidecar, the face moves with it. When the sidecar can render, rendered frames show in
## the corner.
##
## Settings, from user arguments after `--` (or, on the web, the page's query string): `--ws-url=`,
## `--speech-url=`, `--head=` (a .glb path), `--autoplay` (speak the line at once, for screenshots), and for a
## sidecar started with `vasa-bridge serve --render`: `--portrait=` (an image file to animate, a res://, user://
## or desktop path; default: the sidecar's demo portrait), `--render-size=` (256 or 512), `--jpeg-quality=`
## (1-95), `--mark-position=` (bottom-right, bottom-left, top-right, top-left: the synthetic mark moves, it is
## never removed).

const HEAD_PATHS: PackedStringArray = ["res://demo/head/vasa_head.glb", "user://vasa_head.glb"]
## jawOpen that counts as a wide-open mouth, for the browser test's screenshot.
const WIDE_OPEN_JAW: float = 0.35

var ws_url: String = "ws://127.0.0.1:5572/"
var speech_url: String = "http://127.0.0.1:8060/speech"
var head_path: String = ""
var autoplay: bool = false
var portrait_path: String = ""
var render_options: Dictionary = {}

var _mouth_reported: bool = false
## Audio time of the first received frame of the line whose jawOpen is above WIDE_OPEN_JAW, or -1.
var _wide_open_ms: float = -1.0

@onready var client: VasaBridgeClient = $VasaBridgeClient
@onready var face: VasaBridgeFace = $VasaBridgeFace
@onready var line_edit: LineEdit = $UI/Panel/Line
@onready var speak_button: Button = $UI/Panel/Speak
@onready var status: Label = $UI/Panel/Status
@onready var rendered: TextureRect = $UI/Rendered
@onready var texture_node: VasaBridgeTexture = $VasaBridgeTexture


func _ready() -> void:
	_read_settings()
	var head: Node3D = _load_head()
	if head == null:
		status.text = "No head found. Run: vasa-bridge avatar export -o godot_sample/demo/head"
		return
	VasaHeadStage.build(self, head)
	for mesh: MeshInstance3D in VasaHeadLoader.blend_shape_meshes(head):
		face.meshes.append(face.get_path_to(mesh))
	face.head_node = head
	face.head_pose_weight = 1.0
	# Guidance 2 on the audio: crisper lips for one face, at twice the sidecar's compute per frame.
	face.controls["guidance_scale"] = 2.0
	face.bind()
	speak_button.pressed.connect(_on_speak)
	line_edit.text_submitted.connect(func(_t: String) -> void: _on_speak())
	client.server_ready.connect(_on_server_ready)
	client.motion_received.connect(_on_motion)
	client.error_received.connect(func(code: String, message: String, _d: Dictionary) -> void:
		status.text = "%s: %s" % [code, message])
	client.disconnected.connect(func(_c: int, _r: String) -> void: status.text = "sidecar lost; reconnecting")
	face.line_started.connect(func(_s: String) -> void: status.text = "speaking (synthetic motion)")
	face.line_finished.connect(func(_s: String) -> void: status.text = "ready")
	face.line_failed.connect(func(code: String, message: String) -> void:
		status.text = "%s: %s" % [code, message])
	texture_node.frame_shown.connect(func(_seq: int) -> void: rendered.visible = true)
	status.text = "connecting to %s" % ws_url
	client.connect_to_server(ws_url)


func _process(_delta: float) -> void:
	# For the browser test: say once that the mouth is wide open while speaking (the screenshot moment). The
	# moment is found in the received frames, not in per-frame samples: a slow browser draws few frames and would
	# step over a short peak.
	if _mouth_reported or _wide_open_ms < 0.0 or not face.is_speaking() or face.current_time_ms < _wide_open_ms:
		return
	_mouth_reported = true
	print("VASA_DEMO mouth_open jawOpen=%.2f at t=%.0fms (frame at %.0fms)" % [
		face.channel_value("jawOpen"), face.current_time_ms, _wide_open_ms])


func _on_motion(from_session: String, batch: VasaProtocol.MotionBatch) -> void:
	var jaw: int = face.channel_for_shape("jawOpen", {})
	if from_session != face.session or _wide_open_ms >= 0.0 or jaw < 0:
		return
	for i: int in batch.n:
		if batch.frames[i * batch.channels + jaw] > WIDE_OPEN_JAW:
			_wide_open_ms = face.jitter.pts_ms_of(batch.seq + i)
			return


func _read_settings() -> void:
	var args: PackedStringArray = OS.get_cmdline_user_args()
	if OS.has_feature("web"):
		var query: Variant = JavaScriptBridge.eval("window.location.search", true)
		if typeof(query) == TYPE_STRING:
			for pair: String in String(query).trim_prefix("?").split("&", false):
				args.append("--" + pair.uri_decode())
	for arg: String in args:
		var kv: PackedStringArray = arg.trim_prefix("--").split("=", true, 1)
		match kv[0]:
			"ws-url":
				ws_url = kv[1] if kv.size() == 2 else ws_url
			"speech-url":
				speech_url = kv[1] if kv.size() == 2 else speech_url
			"head":
				head_path = kv[1] if kv.size() == 2 else head_path
			"autoplay":
				autoplay = true
			"portrait":
				portrait_path = kv[1] if kv.size() == 2 else portrait_path
			"render-size":
				render_options["size"] = int(kv[1]) if kv.size() == 2 else 256
			"jpeg-quality":
				render_options["jpeg_quality"] = int(kv[1]) if kv.size() == 2 else 85
			"mark-position":
				render_options["mark_position"] = kv[1] if kv.size() == 2 else "bottom-right"


func _load_head() -> Node3D:
	var paths := PackedStringArray([head_path]) if head_path != "" else HEAD_PATHS
	for path: String in paths:
		if FileAccess.file_exists(path):
			var head: Node3D = VasaHeadLoader.load_head(path)
			if head != null:
				return head
		# In the editor the .glb is also imported as a scene: use that when the raw file is not exported.
		if ResourceLoader.exists(path):
			var scene := load(path) as PackedScene
			if scene != null:
				return scene.instantiate() as Node3D
	return null


func _on_server_ready(info: Dictionary) -> void:
	var outputs: Array = info.get("outputs", [])
	# Rendered frames when the sidecar can make them: the portrait file goes up with each line's `open` (as bin
	# in the WebSocket message), the render options ask for a size, a JPEG quality and the mark's corner.
	face.outputs = PackedStringArray(["motion", "frames_jpeg"]) if "frames_jpeg" in outputs \
			else PackedStringArray(["motion"])
	face.render_options = render_options
	var note: String = ""
	if portrait_path != "":
		face.portrait_bytes = FileAccess.get_file_as_bytes(portrait_path)
		if face.portrait_bytes.is_empty():
			note = "; cannot read the portrait %s, the sidecar's demo portrait is used" % portrait_path
	status.text = "ready: %s (%s)%s" % [info.get("server", "?"), info.get("backend", "?"), note]
	if autoplay:
		_on_speak()


func _on_speak() -> void:
	var text: String = line_edit.text.strip_edges()
	if text == "" or not client.is_ready():
		status.text = "type a line first" if text == "" else "not connected to the sidecar yet"
		return
	status.text = "synthesizing speech"
	var request := HTTPRequest.new()
	add_child(request)
	var err: Error = request.request("%s?text=%s" % [speech_url, text.uri_encode()])
	if err != OK:
		status.text = "cannot ask %s for speech: %s" % [speech_url, error_string(err)]
		request.queue_free()
		return
	var result: Array = await request.request_completed
	request.queue_free()
	var code: int = result[1]
	var body: PackedByteArray = result[3]
	var rate: int = 0
	for header: String in result[2]:
		if header.to_lower().begins_with("x-sample-rate:"):
			rate = header.get_slice(":", 1).strip_edges().to_int()
	if code != 200 or rate <= 0 or body.is_empty():
		status.text = "speech service %s answered %d: %s" % [speech_url, code, body.get_string_from_utf8().left(200)]
		return
	_mouth_reported = false
	_wide_open_ms = -1.0
	face.speak(body, rate)
