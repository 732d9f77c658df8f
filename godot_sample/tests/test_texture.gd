extends RefCounted
## VasaBridgeTexture: rendered frames (the `render` golden vector, RGBA; and a JPEG) reach a TextureRect with the
## right pixels, and with a face as clock an image waits until the face's audio time reaches its pts.


func run(tree: SceneTree, t: VasaTestReport, _options: Dictionary) -> void:
	var msg: Dictionary = VasaMsgpack.decode(FileAccess.get_file_as_bytes("res://test_data/vectors/render.msgpack")).value
	var rect := TextureRect.new()
	var shown := VasaBridgeTexture.new()
	shown.target = rect
	tree.root.add_child(rect)
	tree.root.add_child(shown)
	var added: int = shown.add_render(msg)
	# process_frame fires before the nodes' _process of that frame: wait two
	await tree.process_frame
	await tree.process_frame
	var image: Image = rect.texture.get_image() if rect.texture != null else null
	var ok: bool = added == 1 and image != null and image.get_size() == Vector2i(2, 1) \
			and image.get_pixel(0, 0).is_equal_approx(Color(1, 0, 0, 1)) \
			and image.get_pixel(1, 0).is_equal_approx(Color(0, 1, 0, 1))
	t.check("texture_shows_rgba_render_vector", ok, "added %d, texture %s, pixels %s %s" % [
		added, image.get_size() if image != null else Vector2i(), image.get_pixel(0, 0) if image else Color(),
		image.get_pixel(1, 0) if image else Color()])

	var source := Image.create(64, 48, false, Image.FORMAT_RGB8)
	source.fill(Color(0.2, 0.4, 0.8))
	var jpeg_msg: Dictionary = {"type": "render", "session": "5e55a0f1c0ffee42", "seq": 11, "n": 1,
		"pts_ms": 440.0, "format": "jpeg", "width": 64, "height": 48, "images": [source.save_jpg_to_buffer(0.9)]}
	var face := VasaBridgeFace.new()
	face.client = VasaBridgeClient.new()
	face.client.connect_on_ready = false
	face.client.reconnect = false
	tree.root.add_child(face.client)
	tree.root.add_child(face)
	var timed := VasaBridgeTexture.new()
	var rect2 := TextureRect.new()
	timed.target = rect2
	timed.face = face
	timed.session = "5e55a0f1c0ffee42"
	tree.root.add_child(rect2)
	tree.root.add_child(timed)
	face.current_time_ms = 400.0
	timed.add_render(jpeg_msg)
	await tree.process_frame
	await tree.process_frame
	var early: bool = rect2.texture == null
	face.current_time_ms = 440.0
	await tree.process_frame
	await tree.process_frame
	var jpg: Image = rect2.texture.get_image() if rect2.texture != null else null
	var colour: Color = jpg.get_pixel(32, 24) if jpg != null else Color()
	# JPEG is lossy: compare the flat colour within 3 %
	var close: bool = absf(colour.r - 0.2) < 0.03 and absf(colour.g - 0.4) < 0.03 and absf(colour.b - 0.8) < 0.03
	t.check("texture_waits_for_pts_then_shows_jpeg", early and jpg != null and jpg.get_size() == Vector2i(64, 48)
		and close,
		"hidden at 400 ms %s, at 440 ms %s, centre %s" % [early, jpg.get_size() if jpg else Vector2i(), colour])
	var other: int = timed.add_render({"type": "render", "session": "ffffffffffffffff", "seq": 0, "n": 1,
		"pts_ms": 0.0, "format": "rgba", "width": 1, "height": 1, "images": [PackedByteArray([0, 0, 0, 255])]})
	var bad: int = shown.add_render({"type": "render", "session": "x", "seq": 0, "n": 1, "pts_ms": 0.0,
		"format": "rgba", "width": 3, "height": 3, "images": [PackedByteArray([1, 2, 3])]})
	t.check("texture_ignores_other_sessions_and_bad_images", other == 0 and bad == 0 and shown.frames_failed == 1,
		"other session added %d, wrong-size image added %d, failed %d" % [other, bad, shown.frames_failed])
	for node: Node in [rect, shown, face.client, face, rect2, timed]:
		node.queue_free()
	await tree.process_frame
