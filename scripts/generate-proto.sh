#!/usr/bin/env bash
# Regenerates Sources/ModerationProto/*.pb.swift from proto/ (idempotent; commit the result).
#
# Why not the swift-protobuf build plugin: it rebuilds protoc-gen-swift inside every build
# (minutes on two shared cores) for a file that changes rarely. Instead this script builds
# protoc-gen-swift once, into the gitignored .build-protoc/ folder, from the same
# swift-protobuf version the package resolves to, and runs Debian's protoc with it.
#
#   scripts/generate-proto.sh            regenerate
#   scripts/generate-proto.sh --check    fail when the committed code differs from the .proto
#
# Environment: SWIFT_PROTOBUF_VERSION overrides the swift-protobuf tag (default: the version
# pinned in Package.resolved, else 1.39.0).
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo_root"

proto_root=proto
out_dir=Sources/ModerationProto
tools_dir=.build-protoc
check=false
[[ ${1:-} == --check ]] && check=true

# 1. protoc from Debian, installed when missing.
if ! command -v protoc >/dev/null 2>&1; then
    sudo=""
    [[ $(id -u) == 0 ]] || sudo="sudo"
    echo "installing protobuf-compiler"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq protobuf-compiler >/dev/null
fi

# 2. protoc-gen-swift, matching the runtime library version.
version=${SWIFT_PROTOBUF_VERSION:-}
if [[ -z $version && -f Package.resolved ]]; then
    version=$(python3 - <<'EOF' 2>/dev/null || true
import json
pins = json.load(open("Package.resolved")).get("pins", [])
print(next((p["state"].get("version", "") for p in pins if p["identity"] == "swift-protobuf"), ""))
EOF
)
fi
version=${version:-1.39.0}
src="$tools_dir/swift-protobuf-$version"
plugin="$tools_dir/build-$version/release/protoc-gen-swift"
if [[ ! -x $plugin ]]; then
    if [[ ! -d $src ]]; then
        mkdir -p "$tools_dir"
        git -c advice.detachedHead=false clone -q --depth 1 --branch "$version" \
            https://github.com/apple/swift-protobuf "$src"
    fi
    echo "building protoc-gen-swift $version (once)"
    swift build -c release --package-path "$src" --scratch-path "$tools_dir/build-$version" \
        --product protoc-gen-swift
fi

# 3. Generate. Into a temporary folder first so that --check can compare.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mapfile -t protos < <(cd "$proto_root" && find . -name '*.proto' | sed 's|^\./||' | sort)
protoc --plugin=protoc-gen-swift="$plugin" \
    --proto_path="$proto_root" \
    --swift_out="$tmp" \
    --swift_opt=Visibility=Public \
    --swift_opt=FileNaming=DropPath \
    "${protos[@]}"

status=0
for generated in "$tmp"/*.pb.swift; do
    target="$out_dir/$(basename "$generated")"
    if cmp -s "$generated" "$target"; then
        continue
    fi
    if $check; then
        echo "out of date: $target (run scripts/generate-proto.sh)" >&2
        status=1
    else
        mkdir -p "$out_dir"
        cp "$generated" "$target"
        echo "wrote $target"
    fi
done
exit $status
