class_name VasaBridgeFace
extends Node
## Drives a face from the sidecar: speaks a line (PCM audio) through a VasaBridgeClient, plays it on an
## AudioStreamPlayer, and each frame applies the motion at the player's position to
## - the blend shapes of the MeshInstance3Ds in `meshes`, matched to ARKit names case-insensitively (a prefix
##   such as "blendShape1." is ignored) or through `blend_shape_remap` (e.g. VRM expression names);
## - `head_node` rotation from head pose, `eye_left` / `eye_right` rotation from gaze (rig faces +Z, +Y up).
##
## Sync (SPEC.md §6): frame k belongs to audio time k x 40 ms. Frames come back after the sidecar has seen
## `lookahead_ms` of audio past them, so playback starts once the buffer covers `lookahead_ms + start_margin_ms`
## (or the whole line); from then on the jitter buffer is sampled at the audio position, interpolated to the
## game's frame rate.
##
## A lost server (a cluster replica killed, a sidecar restarted; `reopen_lost_lines`): the client reconnects to the
## same address (a cluster's ws:// ingress routes it to a live replica), the face opens the line's session again
## with the same options and pushes the audio again from the first frame it has not received, so the frames go on
## at that seq and pts, on the same audio clock (what vasa_bridge.client.failover.ReopeningSession does in Python).
## Frames the lost server had made but not sent are made again, not lost; what is lost is the old session's
## motion context (frames right after the seam can differ from an uninterrupted run) and the re-open time, which
## playback sees as a hold on the last frame only if the buffer ran dry meanwhile.

signal line_started(session: String)
signal line_finished(session: String)
## Failed to speak: an error from the client that concerns this face's session.
signal line_failed(code: String, message: String)
## A motion batch of the current line entered the jitter buffer; seq and pts_ms count from the line's start,
## continuous across re-opens.
signal motion_buffered(batch: VasaProtocol.MotionBatch)
## The line's session was lost and opened again (`took_ms` from the loss to the new open_ok).
signal line_reopened(session: String, took_ms: float)

## End reasons after which another server could continue the line (SPEC.md §5.3 shutdown and error: the server
## stopped the session; connection_lost: the connection or the server went away).
const LOSS_REASONS: PackedStringArray = ["connection_lost", "shutdown", "error"]
## Pause between re-open attempts while no server takes the session.
const REOPEN_RETRY_MS: int = 200

## Standard VRM 1.0 expression names -> the ARKit shape that drives them (an approximation: VRM's visemes are
## whole-mouth shapes). Used when `use_vrm_remap` is on; `blend_shape_remap` entries win.
const VRM_REMAP: Dictionary = {
	"aa": "jawOpen", "ih": "mouthStretchLeft", "ou": "mouthPucker", "ee": "mouthSmileLeft",
	"oh": "mouthFunnel", "blink": "eyeBlinkLeft", "blinkleft": "eyeBlinkLeft", "blinkright": "eyeBlinkRight",
	"happy": "mouthSmileRight", "angry": "browDownLeft", "sad": "mouthFrownLeft", "surprised": "browInnerUp",
	"lookup": "eyeLookUpLeft", "lookdown": "eyeLookDownLeft", "lookleft": "eyeLookOutLeft",
	"lookright": "eyeLookInLeft",
}

@export var client: VasaBridgeClient
@export var meshes: Array[NodePath] = []
@export var head_node: Node3D
@export var eye_left: Node3D
@export var eye_right: Node3D
@export var audio_player: AudioStreamPlayer
## Rig blend-shape name -> ARKit name, for rigs that do not use ARKit names (case-insensitive keys).
@export var blend_shape_remap: Dictionary = {}
@export var use_vrm_remap: bool = false
## Scales head rotation from the stream (0 = keep the head still).
@export_range(0.0, 2.0) var head_pose_weight: float = 1.0
## Move `head_node` by headX/headY and by headZ minus `head_distance_ref_m` (metres); off by default.
@export var apply_head_translation: bool = false
@export var head_distance_ref_m: float = 0.6
## Extra buffered motion before playback starts, on top of the sidecar's lookahead, ms.
@export var start_margin_ms: float = 100.0
## Outputs of each line's session: add "frames_jpeg" or "frames_rgba" for rendered frames of a portrait (a
## sidecar started with `vasa-bridge serve --render`); show them with a VasaBridgeTexture.
@export var outputs: PackedStringArray = PackedStringArray(["motion"])
@export_group("Rendered frames")
## The face to animate when rendering: any Texture2D (its image is sent as a JPEG of at most 1024 px). Empty:
## `portrait_bytes` if set, else the sidecar's demo portrait.
@export var portrait: Texture2D
## Render options (SPEC.md §4.2), each key optional: {"size": 256 or 512, "jpeg_quality": 1..95,
## "mark_position": "bottom-right" | "bottom-left" | "top-right" | "top-left"}. The synthetic mark can be
## moved, never removed.
@export var render_options: Dictionary = {}
## Landmarks for portraits the sidecar's detector misses (paintings, cartoons), in the portrait's pixels:
## {"keypoints": {"right_eye": [x, y], "left_eye": [x, y], "nose_tip": [x, y], "mouth_right": [x, y],
## "mouth_left": [x, y]}} or {"points": [468 face-mesh [x, y]]}.
@export var portrait_landmarks: Dictionary = {}
@export_group("")
## Initial performance controls for each line (SPEC.md §4.5), e.g. {"emotion": "happy"}.
@export var controls: Dictionary = {}
## Audio bytes per `audio` request: 100 ms chunks keep messages small.
@export var chunk_ms: float = 100.0
## Pushed audio runs at most this far ahead of playback (never less than the sidecar's lookahead plus
## `start_margin_ms`); the default pushes the whole line at once.
@export var audio_ahead_ms: float = 1e9
## Open a lost line's session again (see above); off: the line fails with `session_connection_lost`.
@export var reopen_lost_lines: bool = true
## A lost line fails (`reopen_failed`) when no server took it again within this long.
@export var reopen_timeout_s: float = 10.0

var session: String = ""
## An image file's bytes (PNG, JPEG, ...) to send as the portrait; wins over `portrait`.
var portrait_bytes: PackedByteArray = PackedByteArray()
## open_ok.render of the current line (format, width, height, jpeg_quality, mark_position, portrait), or {}.
var render_info: Dictionary = {}
var jitter := VasaJitterBuffer.new()
var lookahead_ms: float = 0.0
## Bound blend shapes: [MeshInstance3D, blend shape index, channel index] triples.
var bindings: Array = []
## Names of blend shapes in `meshes` that matched no channel (rig names to add to `blend_shape_remap`).
var unmatched: PackedStringArray = []
## Last values applied (one per channel), and the audio time they belong to.
var current_values: PackedFloat32Array = PackedFloat32Array()
var current_time_ms: float = -1.0
## Times the current line's session was opened again after a loss, and how long the last re-open took.
var reopens: int = 0
var last_reopen_ms: float = 0.0

var _channel_names: PackedStringArray = VasaProtocol.default_channel_names()
var _channel_index: Dictionary = {}
var _open_request: int = -1
var _open_args: Array = []  # open_session's arguments for this line, used again by a re-open
var _pcm: PackedByteArray = PackedByteArray()
var _pushed_bytes: int = 0  # audio of the line sent to the current session, from its seam on
var _end_sent: bool = false
var _seq_offset: int = 0  # frames of the line delivered before the current session's frame 0
var _frames_received: int = 0  # frames of the line delivered so far
var _lost_at_ms: int = -1  # while re-opening: when the loss was noticed
var _retry_at_ms: int = 0
var _sample_rate_hz: int = 16000
var _stream_ended: bool = false
var _playing: bool = false
var _play_started_usec: int = 0
var _head_base: Transform3D = Transform3D.IDENTITY
var _eye_base: Array = [Basis.IDENTITY, Basis.IDENTITY]


func _ready() -> void:
	if client == null:
		client = VasaBridgeClient.new()
		client.name = "VasaBridgeClient"
		add_child(client)
	if audio_player == null:
		audio_player = AudioStreamPlayer.new()
		audio_player.name = "VoicePlayer"
		add_child(audio_player)
	client.session_opened.connect(_on_session_opened)
	client.motion_received.connect(_on_motion)
	client.session_ended.connect(_on_session_ended)
	client.error_received.connect(_on_error)
	bind()


## (Re)matches blend shapes and remembers the rest pose of head and eyes. Call after changing `meshes` or the
## nodes (e.g. after loading a head at run time).
func bind() -> void:
	_channel_index.clear()
	for i: int in _channel_names.size():
		_channel_index[_channel_names[i].to_lower()] = i
	var remap: Dictionary = {}
	if use_vrm_remap:
		for key: String in VRM_REMAP:
			remap[key] = VRM_REMAP[key]
	for key: Variant in blend_shape_remap:
		remap[str(key).to_lower()] = blend_shape_remap[key]
	bindings.clear()
	unmatched.clear()
	for path: NodePath in meshes:
		var mesh_instance := get_node_or_null(path) as MeshInstance3D
		if mesh_instance == null or mesh_instance.mesh == null:
			push_warning("VasaBridgeFace: %s is not a MeshInstance3D with a mesh" % path)
			continue
		var mesh: Mesh = mesh_instance.mesh
		var count: int = mesh.get_blend_shape_count() if mesh is ArrayMesh else 0
		for shape: int in count:
			var channel: int = channel_for_shape((mesh as ArrayMesh).get_blend_shape_name(shape), remap)
			if channel >= 0:
				bindings.append([mesh_instance, shape, channel])
			else:
				unmatched.append(String((mesh as ArrayMesh).get_blend_shape_name(shape)))
	if head_node != null:
		_head_base = head_node.transform
	_eye_base = [eye_left.basis if eye_left != null else Basis.IDENTITY,
		eye_right.basis if eye_right != null else Basis.IDENTITY]


## Channel index for a rig blend-shape name, or -1: remap first, then the ARKit name itself, ignoring case and
## any "prefix." / "prefix:" a DCC tool added.
func channel_for_shape(shape_name: String, remap: Dictionary) -> int:
	var key: String = shape_name.to_lower()
	for sep: String in [".", ":", "|"]:
		if key.contains(sep):
			key = key.get_slice(sep, key.get_slice_count(sep) - 1)
	if remap.has(key):
		key = str(remap[key]).to_lower()
	return _channel_index.get(key, -1)


## Speaks a line: `pcm` is mono signed 16-bit little-endian audio at `sample_rate_hz`. Opens a session, streams
## the audio in chunks and plays it once enough motion is buffered.
func speak(pcm: PackedByteArray, sample_rate_hz: int) -> void:
	stop()
	_pcm = pcm
	_sample_rate_hz = sample_rate_hz
	var wav := AudioStreamWAV.new()
	wav.format = AudioStreamWAV.FORMAT_16_BITS
	wav.mix_rate = sample_rate_hz
	wav.stereo = false
	wav.data = pcm
	audio_player.stream = wav
	jitter = VasaJitterBuffer.new(float(client.server_info.get("fps", VasaProtocol.FPS_DEFAULT)))
	_stream_ended = false
	render_info = {}
	var image_file := PackedByteArray()
	if VasaProtocol.wants_render(outputs):
		image_file = portrait_bytes if not portrait_bytes.is_empty() else _encode_portrait(portrait)
	_open_args = ["pcm16", sample_rate_hz, outputs, controls.duplicate(), -1, image_file,
		portrait_landmarks if VasaProtocol.wants_render(outputs) else {},
		render_options if VasaProtocol.wants_render(outputs) else {}]
	_seq_offset = 0
	_frames_received = 0
	reopens = 0
	_open_request = client.callv("open_session", _open_args)


## A texture as a JPEG file of at most 1024 px on its long side (the sidecar renders at 512 px at most, and the
## whole `open` must stay under its message limit). Empty for no texture.
static func _encode_portrait(texture: Texture2D) -> PackedByteArray:
	if texture == null:
		return PackedByteArray()
	var image: Image = texture.get_image()
	if image == null or image.is_empty():
		return PackedByteArray()
	if image.is_compressed():
		image.decompress()
	var long_side: int = maxi(image.get_width(), image.get_height())
	if long_side > 1024:
		image.resize(maxi(1, image.get_width() * 1024 / long_side), maxi(1, image.get_height() * 1024 / long_side))
	if image.get_format() != Image.FORMAT_RGB8:
		image.convert(Image.FORMAT_RGB8)
	return image.save_jpg_to_buffer(0.92)


## Stops the current line (closing its session) and returns the face to rest.
func stop() -> void:
	if session != "":
		client.close_session(session)
	session = ""
	_open_request = -1
	_lost_at_ms = -1
	_playing = false
	if audio_player != null:
		audio_player.stop()


func is_speaking() -> bool:
	return _open_request >= 0 or session != "" or _playing or _lost_at_ms >= 0


## Changes controls of the line being spoken (takes effect from the next frame the sidecar makes).
func set_controls(values: Dictionary) -> void:
	if not _open_args.is_empty():
		_open_args[3] = values.duplicate()  # a re-opened session starts with the controls in effect
	if session != "":
		client.set_controls(session, values)


## The audio clock of the line, ms: the player's position corrected for mixing and output latency (the usual
## Godot recipe for syncing to audio). Where the player reports no position (web "sample" playback, where the
## browser plays the sound, or a dummy audio driver), the time since play() stands in.
func playback_time_ms() -> float:
	if not _playing:
		return -1.0
	var wall_ms: float = (Time.get_ticks_usec() - _play_started_usec) / 1000.0
	var position_s: float = audio_player.get_playback_position()
	if position_s <= 0.0:
		return wall_ms
	var t_s: float = position_s + AudioServer.get_time_since_last_mix() - AudioServer.get_output_latency()
	return maxf(t_s * 1000.0, 0.0)


## Length of the line being spoken, ms.
func line_duration_ms() -> float:
	return _pcm.size() / 2.0 * 1000.0 / maxi(_sample_rate_hz, 1)


func _process(_delta: float) -> void:
	if _lost_at_ms >= 0:
		_step_reopen()
	_push_due()
	if session != "" and not _playing and jitter.has_frames():
		var needed_ms: float = lookahead_ms + start_margin_ms
		if _stream_ended or jitter.buffered_until_ms() >= needed_ms:
			_playing = true
			_play_started_usec = Time.get_ticks_usec()
			audio_player.play()
			line_started.emit(session)
	if _playing:
		var t_ms: float = playback_time_ms()
		apply_at_ms(t_ms)
		# The last frame covers [duration - 40 ms, duration); hold it one frame, then rest.
		if t_ms >= line_duration_ms() + jitter.frame_interval_ms():
			_finish()


## Applies the motion at audio time `t_ms` (from the jitter buffer) to the rig. Games with their own audio clock
## may call this instead of letting the face play the audio.
func apply_at_ms(t_ms: float) -> void:
	var values: PackedFloat32Array = jitter.sample(t_ms)
	if values.is_empty():
		return
	current_time_ms = t_ms
	apply_values(values)


## Applies one frame of channel values (in `open_ok.channel_names` order).
func apply_values(values: PackedFloat32Array) -> void:
	current_values = values
	for binding: Array in bindings:
		var mesh_instance: MeshInstance3D = binding[0]
		var channel: int = binding[2]
		if channel < values.size():
			mesh_instance.set_blend_shape_value(binding[1], values[channel])
	if head_node != null:
		var pitch: float = _value(values, "headpitch") * head_pose_weight
		var yaw: float = _value(values, "headyaw") * head_pose_weight
		var roll: float = _value(values, "headroll") * head_pose_weight
		# pitch: nod down = +X rotation for a rig facing +Z; yaw: toward the subject's left (+X) = +Y;
		# roll: tilt to the subject's left = -Z.
		var pose := Basis.from_euler(Vector3(pitch, yaw, -roll), EULER_ORDER_YXZ)
		var xform := Transform3D(_head_base.basis * pose, _head_base.origin)
		if apply_head_translation:
			xform.origin += Vector3(_value(values, "headx"), _value(values, "heady"),
				_value(values, "headz") - head_distance_ref_m)
		head_node.transform = xform
	var gaze := Basis.from_euler(Vector3(-_value(values, "gazepitch"), _value(values, "gazeyaw"), 0.0),
		EULER_ORDER_YXZ)
	if eye_left != null:
		eye_left.basis = _eye_base[0] * gaze
	if eye_right != null:
		eye_right.basis = _eye_base[1] * gaze


## Current value of a blend shape channel by ARKit name (case-insensitive); 0 when not streaming.
func channel_value(channel_name: String) -> float:
	return _value(current_values, channel_name.to_lower())


func _value(values: PackedFloat32Array, lower_name: String) -> float:
	var i: int = _channel_index.get(lower_name, -1)
	return values[i] if i >= 0 and i < values.size() else 0.0


func _on_session_opened(request_id: int, opened: String, info: Dictionary) -> void:
	if request_id != _open_request:
		return
	_open_request = -1
	session = opened
	_end_sent = false
	if _lost_at_ms >= 0:
		# A re-open: the new session's frame 0 is the line's first frame not received, and its audio starts at
		# that frame's time. Same buffer, same bindings: playback goes on.
		_seq_offset = _frames_received
		_pushed_bytes = mini(_pcm.size(), roundi(_seq_offset * _sample_rate_hz / jitter.fps) * 2)
		reopens += 1
		last_reopen_ms = float(Time.get_ticks_msec() - _lost_at_ms)
		_lost_at_ms = -1
		line_reopened.emit(session, last_reopen_ms)
		_push_due()
		return
	_pushed_bytes = 0
	lookahead_ms = float(info.get("lookahead_ms", 0.0))
	render_info = info.get("render", {}) if info.get("render") is Dictionary else {}
	jitter = VasaJitterBuffer.new(float(info.get("fps", VasaProtocol.FPS_DEFAULT)))
	var names: Variant = info.get("channel_names")
	if names is Array and not (names as Array).is_empty():
		_channel_names = PackedStringArray(names)
		bind()
	_push_due()


## Sends the current session the audio it has not had, up to `audio_ahead_ms` past playback, then end_audio.
func _push_due() -> void:
	if session == "" or _end_sent:
		return
	var chunk_bytes: int = maxi(2, int(_sample_rate_hz * chunk_ms / 1000.0) * 2)
	var ahead_ms: float = maxf(audio_ahead_ms, lookahead_ms + start_margin_ms + 2.0 * chunk_ms)
	var played_ms: float = maxf(playback_time_ms(), 0.0)
	while _pushed_bytes < _pcm.size() and _pushed_bytes / 2.0 * 1000.0 / _sample_rate_hz - played_ms <= ahead_ms:
		client.push_audio(session, _pcm.slice(_pushed_bytes, _pushed_bytes + chunk_bytes))
		_pushed_bytes += chunk_bytes
	if _pushed_bytes >= _pcm.size():
		client.end_audio(session)
		_end_sent = true


func _on_motion(from_session: String, batch: VasaProtocol.MotionBatch) -> void:
	if from_session != session or session == "":
		return
	if _seq_offset > 0:
		# The re-opened session counts from 0; the line goes on from the frames delivered before.
		var shifted := VasaProtocol.MotionBatch.new()
		shifted.session = batch.session
		shifted.seq = batch.seq + _seq_offset
		shifted.n = batch.n
		shifted.pts_ms = batch.pts_ms + _seq_offset * jitter.frame_interval_ms()
		shifted.channels = batch.channels
		shifted.frames = batch.frames
		batch = shifted
	_frames_received = batch.seq + batch.n
	motion_buffered.emit(batch)
	jitter.push_batch(batch)


func _on_session_ended(ended: String, reason: String, _message: Dictionary) -> void:
	if ended != session or session == "":
		return
	if reason == "end_of_audio":
		_stream_ended = true
	elif reopen_lost_lines and reason in LOSS_REASONS:
		session = ""
		_lost_at_ms = Time.get_ticks_msec()
		_retry_at_ms = 0
		if reason != "connection_lost":
			# The server stopped the session but kept the connection (a draining replica): a new connection
			# lands on a live replica.
			client.reconnect_now()
	else:
		line_failed.emit("session_" + reason, "the session ended early: %s" % reason)
		stop()


## While re-opening: once the client is connected again (it reconnects by itself), open the session again;
## retry after errors until `reopen_timeout_s`.
func _step_reopen() -> void:
	var now_ms: int = Time.get_ticks_msec()
	if now_ms - _lost_at_ms > reopen_timeout_s * 1000.0:
		_lost_at_ms = -1
		_open_request = -1
		line_failed.emit("reopen_failed", "the session was lost and no server took it again within %.1f s"
			% reopen_timeout_s)
		stop()
		return
	if _open_request < 0 and client.is_ready() and now_ms >= _retry_at_ms:
		_open_request = client.callv("open_session", _open_args)


func _on_error(code: String, message: String, details: Dictionary) -> void:
	var concerns_us: bool = session != "" and str(details.get("session", "")) == session
	if _open_request >= 0 and details.get("id") == _open_request:
		_open_request = -1
		if _lost_at_ms >= 0:  # a re-open refused (e.g. session_limit): try again shortly
			_retry_at_ms = Time.get_ticks_msec() + REOPEN_RETRY_MS
			return
		concerns_us = true
	if concerns_us:
		line_failed.emit(code, message)


func _finish() -> void:
	var finished: String = session
	_playing = false
	_lost_at_ms = -1  # played to the end while re-opening: nothing left to fetch
	var rest := PackedFloat32Array()
	rest.resize(current_values.size())
	var z: int = _channel_index.get("headz", -1)
	if z >= 0 and z < rest.size():
		rest[z] = head_distance_ref_m
	apply_values(rest)
	if session != "":
		client.close_session(session)
	session = ""
	line_finished.emit(finished)
