#!/usr/bin/env bash
# Prints the stamp of the generated protobuf code: hashes of the vendored .proto and of the generated
# Swift file, and the swift-protobuf version pinned in Package.swift. `make proto` writes it;
# `make proto-stamp-check` (run by `make test`) compares it, so a stale or hand-edited file fails CI.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "proto sha256 $(sha256sum Sources/KilnONNX/Proto/onnx.proto | cut -d' ' -f1)"
echo "generated sha256 $(sha256sum Sources/KilnONNX/Generated/onnx.pb.swift | cut -d' ' -f1)"
echo "swift-protobuf $(grep -o 'swift-protobuf.git", exact: "[0-9.]*' Package.swift | grep -o '[0-9.]*$')"
