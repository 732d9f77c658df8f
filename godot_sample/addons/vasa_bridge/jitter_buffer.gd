class_name VasaJitterBuffer
extends RefCounted
## Holds a session's motion frames and answers "what does the face look like at audio time t?".
##
## Frames arrive in batches over the network, possibly out of order (never on one WebSocket, but a client may
## merge sources) or late. The buffer keys frames by `seq` (frame k has pts k x 1000 / fps, SPEC.md §6), so:
## - order: `sample(t)` uses frames by their pts, whatever order they were pushed in;
## - interpolation: between frame k (pts <= t) and frame k + 1 it blends linearly, so a 60 or 144 Hz game sees
##   smooth motion from 25 fps frames; past the newest frame it holds the newest frame;
## - late frames: once playback has sampled time t, a frame whose whole interval [pts, pts + 1/fps) lies before t
##   can never be shown: pushing it is counted in `dropped_late` and it is not stored. Duplicates are ignored.
## Frames more than `keep_ms` behind the playhead are released.

signal frame_dropped(seq: int, reason: String)

var fps: float = 25.0
var channels: int = 0
## Frames behind the playhead kept for interpolation and rewinds, ms.
var keep_ms: float = 200.0
var dropped_late: int = 0
var dropped_duplicate: int = 0
## Highest time passed to `sample`, ms on the audio clock; -INF before the first sample.
var playhead_ms: float = -INF

var _frames: Dictionary = {}  # seq (int) -> PackedFloat32Array
var _max_seq: int = -1
var _min_seq: int = 0


func _init(frames_per_second: float = 25.0, channel_count: int = 0) -> void:
	fps = frames_per_second
	channels = channel_count


func frame_interval_ms() -> float:
	return 1000.0 / fps


func pts_ms_of(seq: int) -> float:
	return seq * 1000.0 / fps


## Stores the frames of one `motion` batch (VasaProtocol.MotionBatch). Returns how many were kept.
func push_batch(batch: VasaProtocol.MotionBatch) -> int:
	if channels == 0:
		channels = batch.channels
	var kept: int = 0
	for i: int in batch.n:
		kept += int(push_frame(batch.seq + i, batch.frame(i)))
	return kept


## Stores one frame. Returns false when it was dropped (late or duplicate).
func push_frame(seq: int, values: PackedFloat32Array) -> bool:
	if _frames.has(seq):
		dropped_duplicate += 1
		frame_dropped.emit(seq, "duplicate")
		return false
	if pts_ms_of(seq + 1) <= playhead_ms:
		dropped_late += 1
		frame_dropped.emit(seq, "late")
		return false
	_frames[seq] = values
	_max_seq = maxi(_max_seq, seq)
	return true


func has_frames() -> bool:
	return not _frames.is_empty()


## The newest pts held, ms; -1 when empty. Playback may run up to here without holding a stale frame.
func buffered_until_ms() -> float:
	return pts_ms_of(_max_seq + 1) if _max_seq >= 0 else -1.0


func size() -> int:
	return _frames.size()


## The face at audio time `t_ms`: linear blend of the frames around t; the nearest earlier frame when the next
## one is missing; the first frame before any. Empty when no frame is held.
func sample(t_ms: float) -> PackedFloat32Array:
	if _frames.is_empty():
		return PackedFloat32Array()
	playhead_ms = maxf(playhead_ms, t_ms)
	var pos: float = t_ms * fps / 1000.0
	var k: int = floori(pos)
	var before: int = _latest_at_or_before(k)
	if before < 0:
		return _frames[_earliest()]
	var a: PackedFloat32Array = _frames[before]
	if before != k or not _frames.has(k + 1):
		_release_before(t_ms)
		return a
	var b: PackedFloat32Array = _frames[k + 1]
	var w: float = pos - k
	var out := PackedFloat32Array()
	out.resize(a.size())
	for i: int in a.size():
		out[i] = a[i] + (b[i] - a[i]) * w
	_release_before(t_ms)
	return out


func clear() -> void:
	_frames.clear()
	_max_seq = -1
	_min_seq = 0
	playhead_ms = -INF
	dropped_late = 0
	dropped_duplicate = 0


func _latest_at_or_before(k: int) -> int:
	var seq: int = mini(k, _max_seq)
	while seq >= _min_seq:
		if _frames.has(seq):
			return seq
		seq -= 1
	return -1


func _earliest() -> int:
	var best: int = _max_seq
	for seq: int in _frames:
		best = mini(best, seq)
	return best


func _release_before(t_ms: float) -> void:
	# Keep the frame under the playhead and `keep_ms` of history; frames are dense, so walk up from _min_seq.
	var limit: int = floori((t_ms - keep_ms) * fps / 1000.0)
	while _min_seq < limit:
		_frames.erase(_min_seq)
		_min_seq += 1
