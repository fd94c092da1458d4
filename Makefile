# Kiln build, test, bench and generation targets.
# `make demo` and `make test` are the two entry points a newcomer needs (see README.md).

SHELL := /bin/bash
SWIFT ?= swift
PYTHON ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
KILN_DEBUG := .build/debug/kiln
KILN_RELEASE := .build/release/kiln
PROTO_DIR := Sources/KilnONNX/Proto
GEN_DIR := Sources/KilnONNX/Generated
PLUGIN := .build/release/protoc-gen-swift
GENERATED_SUITE := Tests/Interop/.generated

.PHONY: conformance schemas schemas-check schemas-stamp-check fixtures-check all setup system-deps venv build release test unit-test interop demo bench proto proto-check fixtures node-suite clean proto-stamp-check

all: build

# System packages Kiln's build and tests need. Installs only what is missing.
system-deps:
	@missing=""; \
	command -v $(PYTHON) >/dev/null || missing="$$missing python3"; \
	$(PYTHON) -m venv --help >/dev/null 2>&1 || missing="$$missing python3-venv"; \
	command -v pkg-config >/dev/null || missing="$$missing pkg-config"; \
	pkg-config --exists openblas 2>/dev/null || missing="$$missing libopenblas-dev"; \
	pkg-config --exists zlib 2>/dev/null || missing="$$missing zlib1g-dev"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v swift >/dev/null || { echo "swift is not installed: Kiln needs Swift 6 (https://swift.org/install)"; exit 2; }; \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

# Python virtual environment for the interop suite and benchmarks (onnx, onnxruntime from PyPI).
$(VPY): Scripts/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install -q --upgrade pip
	$(VPY) -m pip install -q -r Scripts/requirements.txt
	@touch $(VPY)

venv: $(VPY)

setup: system-deps venv

build:
	$(SWIFT) build --product kiln

# Swift's runtime and Foundation linked in statically: a `kiln` invocation starts in ~4 ms instead of
# ~9 ms (no dynamic loading of libFoundation and ICU), which CI pipelines calling it per model feel.
RELEASE_FLAGS := -c release --static-swift-stdlib

release:
	$(SWIFT) build $(RELEASE_FLAGS) --product kiln

# Everything CI runs.
test: setup build proto-stamp-check schemas-check fixtures-check unit-test interop

unit-test:
	KILN_CHECK_INVARIANTS=1 $(SWIFT) test

$(GENERATED_SUITE)/.done: Scripts/gen_node_suite.py Scripts/requirements.txt | $(VPY)
	$(VPY) Scripts/gen_node_suite.py --out $(GENERATED_SUITE)/node
	@touch $@

node-suite: $(GENERATED_SUITE)/.done

interop: build node-suite
	KILN=$(abspath $(KILN_DEBUG)) KILN_CHECK_INVARIANTS=1 NODE_SUITE=$(abspath $(GENERATED_SUITE)/node) \
	  $(VPY) -m pytest -q Tests/Interop

# The evaluator over the ONNX backend node suite; fails below the committed floor.
conformance: build node-suite
	KILN_CHECK_INVARIANTS=1 $(KILN_DEBUG) conformance $(abspath $(GENERATED_SUITE)/node) --floor $$(cat Tests/Interop/conformance_floor.txt)

DEMO_MODEL := Fixtures/optimize/transformer_opset17.onnx

# Kiln's main job on a bundled model: optimize an exported transformer (dynamic batch and
# sequence), verify it numerically, show what changed, write an HTML report.
demo: system-deps release
	@mkdir -p out
	@echo "== kiln inspect $(DEMO_MODEL)"
	$(KILN_RELEASE) inspect $(DEMO_MODEL)
	@echo "== kiln optimize $(DEMO_MODEL) -o out/transformer.onnx --verify 2"
	$(KILN_RELEASE) optimize $(DEMO_MODEL) -o out/transformer.onnx --verify 2
	@echo "== kiln diff $(DEMO_MODEL) out/transformer.onnx --numeric --fail-on numeric io-change"
	$(KILN_RELEASE) diff $(DEMO_MODEL) out/transformer.onnx --numeric --fail-on numeric io-change
	$(KILN_RELEASE) diff $(DEMO_MODEL) out/transformer.onnx --format html --fail-on numeric io-change > out/transformer-diff.html
	@echo "== HTML report of the changes: out/transformer-diff.html"
	@echo "== kiln convert Fixtures/mlp.onnx -o out/mlp.onnx --external-data single --external-data-threshold 0"
	$(KILN_RELEASE) convert Fixtures/mlp.onnx -o out/mlp.onnx --external-data single --external-data-threshold 0
	@ls -l out/

bench: setup release
	KILN=$(abspath $(KILN_RELEASE)) $(VPY) Benchmarks/bench.py
	KILN=$(abspath $(KILN_RELEASE)) $(VPY) Benchmarks/bench_report.py
	KILN=$(abspath $(KILN_RELEASE)) $(VPY) Benchmarks/bench_eval.py
	KILN=$(abspath $(KILN_RELEASE)) $(VPY) Benchmarks/bench_optimize.py
	KILN=$(abspath $(KILN_RELEASE)) $(VPY) Benchmarks/bench_quantize.py
	KILN=$(abspath $(KILN_RELEASE)) $(VPY) Benchmarks/bench_convert.py

fixtures: venv
	$(VPY) Scripts/make_fixtures.py --out Fixtures
	$(VPY) Scripts/make_optimize_fixtures.py --out Fixtures/optimize

# The committed fixtures are what the script writes (fails on stale or hand-edited fixtures).
fixtures-check: venv
	$(VPY) Scripts/make_fixtures.py --check --out Fixtures
	$(VPY) Scripts/make_optimize_fixtures.py --check --out Fixtures/optimize
	$(VPY) Scripts/make_quantize_fixtures.py --check --out Fixtures/quantize

# Regenerate the protobuf Swift code (needs protoc from Debian's protobuf-compiler; builds the plugin).
proto:
	@command -v protoc >/dev/null || { echo "protoc missing: apt-get install protobuf-compiler libprotobuf-dev"; exit 2; }
	$(SWIFT) build $(RELEASE_FLAGS) --product protoc-gen-swift
	protoc --plugin=protoc-gen-swift=$(PLUGIN) --swift_out=$(GEN_DIR) --swift_opt=Visibility=Internal \
	  -I $(PROTO_DIR) $(PROTO_DIR)/onnx.proto
	Scripts/proto_stamp.sh > $(GEN_DIR)/onnx.pb.swift.stamp

# Full check: regenerate into a temp dir and diff with the committed file.
proto-check:
	@command -v protoc >/dev/null || { echo "protoc missing: apt-get install protobuf-compiler libprotobuf-dev"; exit 2; }
	$(SWIFT) build $(RELEASE_FLAGS) --product protoc-gen-swift
	@tmp=$$(mktemp -d); protoc --plugin=protoc-gen-swift=$(PLUGIN) --swift_out=$$tmp --swift_opt=Visibility=Internal \
	  -I $(PROTO_DIR) $(PROTO_DIR)/onnx.proto && diff -u $(GEN_DIR)/onnx.pb.swift $$tmp/onnx.pb.swift && echo "generated code is up to date"

# Cheap check CI runs without rebuilding the plugin: the stamp records the hashes of the vendored
# .proto and of the generated file plus the plugin version; any hand edit or stale generation fails.
proto-stamp-check:
	@Scripts/proto_stamp.sh | diff -u $(GEN_DIR)/onnx.pb.swift.stamp - && echo "generated code matches its stamp"

OPSET_GEN := Sources/KilnOpset/Generated

# Regenerate the operator schema table from the venv's onnx (pinned in Scripts/requirements.txt).
schemas: venv
	$(VPY) Scripts/gen_schemas.py

# Full stale check: regenerate in memory and compare with the committed table and stamp (~0.3 s).
schemas-check: venv
	$(VPY) Scripts/gen_schemas.py --check

# Cheap check without onnx: the committed table matches its stamp.
schemas-stamp-check:
	@test "$$(sha256sum $(OPSET_GEN)/SchemaTable.swift | cut -d' ' -f1)" = "$$(sed -n 's/^generated sha256 //p' $(OPSET_GEN)/SchemaTable.swift.stamp)" \
	  || { echo "$(OPSET_GEN)/SchemaTable.swift does not match its stamp: run 'make schemas'"; exit 1; }
	@echo "schema table matches its stamp"

clean:
	rm -rf .build $(GENERATED_SUITE) out
