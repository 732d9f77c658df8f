class_name VasaTestReport
extends RefCounted
## Collects checks and prints one line per check. The web template is a release build: `assert` is a no-op and
## runtime errors are silent, so every check compares values explicitly and says what it saw.

var passed: int = 0
var failed: int = 0


func check(name: String, ok: bool, details: String = "") -> bool:
	if ok:
		passed += 1
	else:
		failed += 1
	print("VASA_TEST %s %s %s" % ["PASS" if ok else "FAIL", name, details])
	return ok


## Prints an informative measurement (not a check).
func note(name: String, details: String) -> void:
	print("VASA_NOTE %s %s" % [name, details])
