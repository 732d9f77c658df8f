extends RefCounted
## WebGL pixels: the head rendered with jawOpen = 1 differs from jawOpen = 0 in the mouth region, and hardly
## elsewhere. Both frames are saved as PNG (uploaded to the runner, which writes them under out/godot/).

const HEAD_PATH: String = "res://test_data/vasa_head.glb"


func run(tree: SceneTree, t: VasaTestReport, options: Dictionary) -> void:
	var stage := VasaHeadStage.build(tree.root, VasaHeadLoader.load_head(HEAD_PATH))
	var mesh: MeshInstance3D = stage.face_mesh
	var jaw: int = mesh.find_blend_shape_by_name("jawOpen")
	mesh.set_blend_shape_value(jaw, 0.0)
	var closed: Image = await _grab(tree)
	mesh.set_blend_shape_value(jaw, 1.0)
	var opened: Image = await _grab(tree)
	if not t.check("screenshot_viewport_readable", closed != null and not closed.is_empty()
			and closed.get_size() == opened.get_size(), "size %s" % [closed.get_size() if closed else Vector2i()]):
		return
	var box: Rect2i = stage.mouth_rect_px()
	var inside: float = _mean_diff(closed, opened, box, true)
	var outside: float = _mean_diff(closed, opened, box, false)
	t.check("screenshot_jaw_open_differs_in_mouth", inside > 0.03 and outside < inside * 0.2,
		"mean |open - closed| in mouth box %s: %.4f, elsewhere %.4f" % [box, inside, outside])
	t.check("screenshot_not_blank", _spread(closed) > 0.05, "luminance spread %.3f" % _spread(closed))
	if options.has("http-port"):
		for pair: Array in [["jaw_closed.png", closed], ["jaw_open.png", opened]]:
			var code: int = await _upload(tree, int(options["http-port"]), pair[0], pair[1].save_png_to_buffer())
			t.check("screenshot_saved_" + pair[0].get_basename(), code == 200, "PUT %s -> HTTP %d" % [pair[0], code])
	stage.queue_free()
	await tree.process_frame


func _grab(tree: SceneTree) -> Image:
	# Two drawn frames: the blend-shape change reaches the GPU in the next draw.
	for i: int in 2:
		await RenderingServer.frame_post_draw
	return tree.root.get_texture().get_image()


func _mean_diff(a: Image, b: Image, box: Rect2i, inside: bool) -> float:
	var total: float = 0.0
	var count: int = 0
	var size: Vector2i = a.get_size()
	for y: int in range(0, size.y, 2):
		for x: int in range(0, size.x, 2):
			if box.has_point(Vector2i(x, y)) != inside:
				continue
			var ca: Color = a.get_pixel(x, y)
			var cb: Color = b.get_pixel(x, y)
			total += (absf(ca.r - cb.r) + absf(ca.g - cb.g) + absf(ca.b - cb.b)) / 3.0
			count += 1
	return total / maxi(count, 1)


func _spread(img: Image) -> float:
	var lo: float = 1.0
	var hi: float = 0.0
	for y: int in range(0, img.get_height(), 8):
		for x: int in range(0, img.get_width(), 8):
			var v: float = img.get_pixel(x, y).get_luminance()
			lo = minf(lo, v)
			hi = maxf(hi, v)
	return hi - lo


func _upload(tree: SceneTree, port: int, name: String, body: PackedByteArray) -> int:
	var request := HTTPRequest.new()
	tree.root.add_child(request)
	var err: Error = request.request_raw("http://127.0.0.1:%d/upload/%s" % [port, name],
		PackedStringArray(["Content-Type: image/png"]), HTTPClient.METHOD_PUT, body)
	if err != OK:
		request.queue_free()
		return -int(err)
	var result: Array = await request.request_completed
	request.queue_free()
	return int(result[1])
