extends RefCounted
## The jitter buffer: frames pushed out of order come out by pts, values between frames are interpolated at the
## game's frame rate, frames whose time has passed are dropped (and counted), duplicates are ignored.


func run(_tree: SceneTree, t: VasaTestReport, _options: Dictionary) -> void:
	_ordering(t)
	_interpolation(t)
	_late_and_duplicate(t)
	_release(t)


## A batch whose frame i carries value 10 x seq in channel 0 and seq in channel 1.
func _batch(seq: int, n: int) -> VasaProtocol.MotionBatch:
	var b := VasaProtocol.MotionBatch.new()
	b.seq = seq
	b.n = n
	b.pts_ms = seq * 40.0
	b.channels = 2
	for i: int in n:
		b.frames.append(10.0 * (seq + i))
		b.frames.append(float(seq + i))
	return b


func _ordering(t: VasaTestReport) -> void:
	var jb := VasaJitterBuffer.new(25.0)
	jb.push_batch(_batch(6, 3))
	jb.push_batch(_batch(0, 3))
	jb.push_batch(_batch(3, 3))
	var seen: Array = []
	for k: int in 9:
		seen.append(jb.sample(k * 40.0)[1])
	t.check("jitter_orders_out_of_order_batches", seen == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0],
		"frame seqs at pts 0..320 ms: %s" % [seen])


func _interpolation(t: VasaTestReport) -> void:
	var jb := VasaJitterBuffer.new(25.0)
	jb.push_batch(_batch(0, 4))
	# A 60 Hz game samples every 16.67 ms: values must move between the 25 fps frames, linearly.
	var errs: Array = []
	var worst: float = 0.0
	for i: int in 7:
		var t_ms: float = i * 1000.0 / 60.0
		var got: float = jb.sample(t_ms)[0]
		var want: float = 10.0 * t_ms / 40.0
		worst = maxf(worst, absf(got - want))
		errs.append("%.2f" % got)
	t.check("jitter_interpolates_to_game_rate", worst < 1e-4, "values at 60 Hz %s, max error %.6f" % [errs, worst])
	# Past the newest frame the newest frame holds (no extrapolation overshoot).
	var held: float = jb.sample(400.0)[0]
	t.check("jitter_holds_newest_frame_past_end", held == 30.0, "value at 400 ms %.2f (frame 3 = 30)" % held)
	var gap := VasaJitterBuffer.new(25.0)
	gap.push_batch(_batch(0, 1))
	gap.push_batch(_batch(2, 1))
	var at_60: float = gap.sample(60.0)[0]
	t.check("jitter_holds_across_missing_frame", at_60 == 0.0, "frame 1 missing: value at 60 ms %.2f" % at_60)


func _late_and_duplicate(t: VasaTestReport) -> void:
	var jb := VasaJitterBuffer.new(25.0)
	var drops: Array = []
	jb.frame_dropped.connect(func(seq: int, reason: String) -> void: drops.append("%d:%s" % [seq, reason]))
	jb.push_batch(_batch(0, 2))
	jb.sample(130.0)  # playback reached 130 ms: frames 0..2 (pts 0, 40, 80; ending by 120 ms) are in the past
	var kept: int = jb.push_batch(_batch(2, 3))  # frame 2 is late, 3 and 4 are still to come
	var dup: int = jb.push_batch(_batch(4, 1))
	var now: float = jb.sample(140.0)[0]
	t.check("jitter_drops_late_frames", kept == 2 and jb.dropped_late == 1 and drops.has("2:late"),
		"kept %d of 3, dropped_late %d, signals %s" % [kept, jb.dropped_late, drops])
	t.check("jitter_ignores_duplicates", dup == 0 and jb.dropped_duplicate == 1 and drops.has("4:duplicate"),
		"kept %d, dropped_duplicate %d" % [dup, jb.dropped_duplicate])
	t.check("jitter_continues_after_drop", absf(now - 35.0) < 1e-4,
		"value at 140 ms %.3f (between frames 3 and 4: 35)" % now)


func _release(t: VasaTestReport) -> void:
	var jb := VasaJitterBuffer.new(25.0)
	jb.push_batch(_batch(0, 100))
	jb.sample(3000.0)
	# 200 ms of history (5 frames) behind frame 75 stay, the rest is released
	t.check("jitter_releases_old_frames", jb.size() == 30 and jb.buffered_until_ms() == 4000.0,
		"%d frames held after sampling 3 s of 4 s" % jb.size())
