class_name VasaProtocol
extends RefCounted
## Constants and helpers of the vasa_bridge motion-stream protocol 1.1 (protocol/SPEC.md): message builders and
## the decoding of `motion` batches into float arrays.

## The protocol version this addon speaks (protocol/VERSION).
const VERSION: String = "1.4"
const CLIENT_NAME: String = "vasa_bridge-godot/0.1.0"
const FPS_DEFAULT: float = 25.0

## Motion layout 1, channels 0-51 (SPEC.md §5.1): the ARKit blendshapes in Live Link Face order.
const ARKIT_NAMES: PackedStringArray = [
	"eyeBlinkLeft", "eyeLookDownLeft", "eyeLookInLeft", "eyeLookOutLeft", "eyeLookUpLeft", "eyeSquintLeft",
	"eyeWideLeft", "eyeBlinkRight", "eyeLookDownRight", "eyeLookInRight", "eyeLookOutRight", "eyeLookUpRight",
	"eyeSquintRight", "eyeWideRight", "jawForward", "jawRight", "jawLeft", "jawOpen", "mouthClose",
	"mouthFunnel", "mouthPucker", "mouthRight", "mouthLeft", "mouthSmileLeft", "mouthSmileRight",
	"mouthFrownLeft", "mouthFrownRight", "mouthDimpleLeft", "mouthDimpleRight", "mouthStretchLeft",
	"mouthStretchRight", "mouthRollLower", "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper",
	"mouthPressLeft", "mouthPressRight", "mouthLowerDownLeft", "mouthLowerDownRight", "mouthUpperUpLeft",
	"mouthUpperUpRight", "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight",
	"cheekPuff", "cheekSquintLeft", "cheekSquintRight", "noseSneerLeft", "noseSneerRight", "tongueOut",
]
## Channels 52-59: head pose (radians, metres) and gaze (radians).
const POSE_NAMES: PackedStringArray = [
	"headPitch", "headYaw", "headRoll", "headX", "headY", "headZ", "gazeYaw", "gazePitch",
]


## The 60 channel names of motion layout 1; servers send the authoritative list in `open_ok.channel_names`.
static func default_channel_names() -> PackedStringArray:
	var names := PackedStringArray(ARKIT_NAMES)
	names.append_array(POSE_NAMES)
	return names


## One decoded `motion` batch: `frames` holds n x channels floats, row-major.
class MotionBatch:
	extends RefCounted
	var session: String = ""
	var seq: int = 0
	var n: int = 0
	var pts_ms: float = 0.0
	var channels: int = 0
	var frames: PackedFloat32Array = PackedFloat32Array()

	## The values of frame `i` of the batch.
	func frame(i: int) -> PackedFloat32Array:
		return frames.slice(i * channels, (i + 1) * channels)


## Decodes a `motion` message's frames (f32 or f16, little-endian). Returns null and sets `error_out[0]` when
## the message breaks SPEC.md §5.1 (wrong kinds, n < 1, frames length != n x channels x size(dtype)).
static func decode_motion(msg: Dictionary, error_out: Array) -> MotionBatch:
	var batch := MotionBatch.new()
	var blob: Variant = msg.get("frames")
	var dtype: Variant = msg.get("dtype")
	if typeof(msg.get("seq")) != TYPE_INT or typeof(msg.get("n")) != TYPE_INT \
			or typeof(msg.get("channels")) != TYPE_INT or typeof(blob) != TYPE_PACKED_BYTE_ARRAY \
			or not (typeof(msg.get("pts_ms")) in [TYPE_FLOAT, TYPE_INT]) or not (dtype in ["f32", "f16"]):
		error_out.append("motion message with missing or mistyped fields")
		return null
	batch.session = str(msg.get("session", ""))
	batch.seq = msg["seq"]
	batch.n = msg["n"]
	batch.channels = msg["channels"]
	batch.pts_ms = float(msg["pts_ms"])
	var size: int = 4 if dtype == "f32" else 2
	var bytes: PackedByteArray = blob
	if batch.n < 1 or batch.channels < 1 or batch.seq < 0:
		error_out.append("motion message with n=%d channels=%d seq=%d" % [batch.n, batch.channels, batch.seq])
		return null
	if bytes.size() != batch.n * batch.channels * size:
		error_out.append("motion frames are %d bytes, expected n x channels x %d = %d" % [
			bytes.size(), size, batch.n * batch.channels * size])
		return null
	if dtype == "f32":
		# Web, desktop and mobile targets are all little-endian, like the wire format.
		batch.frames = bytes.to_float32_array()
	else:
		var values := PackedFloat32Array()
		values.resize(batch.n * batch.channels)
		for i: int in values.size():
			values[i] = bytes.decode_half(i * 2)
		batch.frames = values
	return batch


static func hello(request_id: int, token: String = "") -> Dictionary:
	var msg: Dictionary = {"type": "hello", "id": request_id, "protocol": VERSION, "client": CLIENT_NAME}
	if token != "":
		msg["token"] = token
	return msg


## `open` (SPEC.md §4.2). With output "frames_jpeg" or "frames_rgba" (1.1): `portrait` is the image file of the
## face to animate (PNG, JPEG, ...; empty: the server's demo portrait), sent in the map as msgpack bin (the
## WebSocket binding; only ZeroMQ moves it to a trailing frame); `portrait_landmarks` is {"points": [...468
## [x, y]...]} or {"keypoints": {"right_eye": [x, y], ...}} for faces the server's detector misses; `render` is
## {"size": 256 or 512, "jpeg_quality": 1..95, "mark_position": "bottom-right" | "bottom-left" | "top-right" |
## "top-left"} (each key optional). Empty arguments are left out of the message.
static func open(request_id: int, audio_format: String, sample_rate_hz: int, outputs: PackedStringArray,
		controls: Dictionary, seed: int = -1, portrait: PackedByteArray = PackedByteArray(),
		portrait_landmarks: Dictionary = {}, render: Dictionary = {}) -> Dictionary:
	var msg: Dictionary = {
		"type": "open", "id": request_id,
		"audio": {"format": audio_format, "sample_rate_hz": sample_rate_hz},
		"outputs": Array(outputs),
	}
	if not controls.is_empty():
		msg["controls"] = controls
	if seed >= 0:
		msg["seed"] = seed
	if not render.is_empty():
		msg["render"] = render
	if not portrait_landmarks.is_empty():
		msg["portrait_landmarks"] = portrait_landmarks
	if not portrait.is_empty():
		msg["portrait"] = portrait
	return msg


## True when `outputs` asks for rendered frames.
static func wants_render(outputs: PackedStringArray) -> bool:
	return outputs.has("frames_jpeg") or outputs.has("frames_rgba")


static func audio(request_id: int, session: String, pcm: PackedByteArray) -> Dictionary:
	return {"type": "audio", "id": request_id, "session": session, "audio": pcm}


static func end_audio(request_id: int, session: String) -> Dictionary:
	return {"type": "end_audio", "id": request_id, "session": session}


static func controls(request_id: int, session: String, values: Dictionary) -> Dictionary:
	return {"type": "controls", "id": request_id, "session": session, "controls": values}


static func close(request_id: int, session: String) -> Dictionary:
	return {"type": "close", "id": request_id, "session": session}
