# Every target installs what it needs first and is safe to re-run.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SYSTEM_STAMP := .make/system.stamp
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: demo test bench data train system venv clean

$(SYSTEM_STAMP): scripts/install_system.sh
	bash scripts/install_system.sh
	@mkdir -p $(dir $@) && touch $@

system: $(SYSTEM_STAMP)

$(STAMP): pyproject.toml $(SYSTEM_STAMP)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[test,voices]"
	touch $@

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/vasa-bridge demo --out out/demo

# pytest exits 5 when it collected nothing: fail loudly rather than pass an empty run.
test: $(STAMP)
	$(BIN)/python -m pytest -q tests; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests" >&2; exit 1; fi; exit $$rc

bench: $(STAMP)
	$(BIN)/vasa-bridge bench

data: $(STAMP)
	$(BIN)/vasa-bridge datagen --out data/corpus

# Reproduces the shipped motion weights (pairs synthesised with espeak-ng + the teacher; resumes if interrupted),
# then writes the ONNX model next to them. Train on a built corpus instead: vasa-bridge train --corpus data/corpus
train: $(STAMP)
	$(BIN)/vasa-bridge train --install
	$(BIN)/vasa-bridge export --check

clean:
	rm -rf out .make
