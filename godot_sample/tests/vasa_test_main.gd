class_name VasaTestMain
extends SceneTree
## Main loop of the in-engine test run (engine_runner.py packs it as `run/main_loop_type`). Runs every suite in
## one engine start (each start costs seconds) and quits with the number of failed checks as exit code.
## User arguments (after `--`): `--suite=NAME` (repeatable; default: all but OPT_IN), `--ws-port=N` (the sidecar),
## `--fake-port=N` (the misbehaving fake server), `--http-port=N` (the runner's page server: speech, uploads).

const SUITES: Dictionary = {
	"codec": preload("res://tests/test_codec.gd"),
	"jitter": preload("res://tests/test_jitter.gd"),
	"head": preload("res://tests/test_head.gd"),
	"presets": preload("res://tests/test_presets.gd"),
	"clip": preload("res://tests/test_clip.gd"),
	"texture": preload("res://tests/test_texture.gd"),
	"malformed": preload("res://tests/test_malformed.gd"),
	"busy": preload("res://tests/test_busy.gd"),
	"live": preload("res://tests/test_live.gd"),
	"live_render": preload("res://tests/test_live_render.gd"),
	"screenshot": preload("res://tests/test_screenshot.gd"),
	"reopen": preload("res://tests/test_reopen.gd"),
}
## Suites that run only when chosen with --suite: they need servers only their own test starts (a cluster).
const OPT_IN: PackedStringArray = ["reopen"]

var report := VasaTestReport.new()
var options: Dictionary = {}


func _initialize() -> void:
	# quit() inside _init would lose its code on the web; start from the first frame instead.
	_run.call_deferred()


func _run() -> void:
	var chosen: PackedStringArray = []
	for arg: String in OS.get_cmdline_user_args():
		var parts: PackedStringArray = arg.trim_prefix("--").split("=", true, 1)
		if parts.size() == 2 and parts[0] == "suite":
			chosen.append(parts[1])
		elif parts.size() == 2:
			options[parts[0]] = parts[1]
	for name: String in SUITES:
		if (not chosen.is_empty() or name in OPT_IN) and not (name in chosen):
			continue
		var started_ms: int = Time.get_ticks_msec()
		var suite: Object = SUITES[name].new()
		await suite.run(self, report, options)
		report.note("suite_time", "%s %d ms" % [name, Time.get_ticks_msec() - started_ms])
	print("VASA_DONE %d %d" % [report.passed, report.failed])
	quit(mini(report.failed, 100))
