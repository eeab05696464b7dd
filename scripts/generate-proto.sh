#!/usr/bin/env bash
# Regenerates Sources/ModerationProto/*.pb.swift (messages) and
# Sources/GRPCFront/moderation.grpc.swift (the gRPC service protocol) from proto/
# (idempotent; commit the result).
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
# pinned in Package.resolved, else 1.39.0); GRPC_SWIFT_PROTOBUF_VERSION the grpc-swift-protobuf
# tag whose protoc-gen-grpc-swift-2 generates the service (default: pinned, else 2.4.1; built
# once into .build-protoc/, about 3 minutes on two loaded cores).
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

# The gRPC service protocol (server side only; clients generate their own stubs from proto/).
grpc_version=${GRPC_SWIFT_PROTOBUF_VERSION:-}
if [[ -z $grpc_version && -f Package.resolved ]]; then
    grpc_version=$(python3 -c 'import json; pins = json.load(open("Package.resolved")).get("pins", []); print(next((p["state"].get("version", "") for p in pins if p["identity"] == "grpc-swift-protobuf"), ""))' 2>/dev/null || true)
fi
grpc_version=${grpc_version:-2.4.1}
grpc_src="$tools_dir/grpc-swift-protobuf-$grpc_version"
grpc_plugin="$tools_dir/build-grpc-$grpc_version/release/protoc-gen-grpc-swift-2"
if [[ ! -x $grpc_plugin ]]; then
    if [[ ! -d $grpc_src ]]; then
        mkdir -p "$tools_dir"
        git -c advice.detachedHead=false clone -q --depth 1 --branch "$grpc_version" \
            https://github.com/grpc/grpc-swift-protobuf "$grpc_src"
    fi
    echo "building protoc-gen-grpc-swift-2 $grpc_version (once)"
    swift build -c release --package-path "$grpc_src" --scratch-path "$tools_dir/build-grpc-$grpc_version" \
        --product protoc-gen-grpc-swift-2
fi
printf 'mapping {\n  module_name: "ModerationProto"\n  proto_file_path: "duoguard/moderation/v1/moderation.proto"\n}\n' \
    > "$tmp/modules.asciipb"
protoc --plugin=protoc-gen-grpc-swift-2="$grpc_plugin" \
    --proto_path="$proto_root" \
    --grpc-swift-2_out="$tmp" \
    --grpc-swift-2_opt=Visibility=Public,Client=false,FileNaming=DropPath,ProtoPathModuleMappings="$tmp/modules.asciipb" \
    duoguard/moderation/v1/moderation.proto
# The messages live in ModerationProto, the service in GRPCFront: the generator assumes one module.
sed 's/^import GRPCProtobuf$/import GRPCProtobuf\nimport ModerationProto/' "$tmp/moderation.grpc.swift" > "$tmp/moderation.grpc.swift.fixed"
target=Sources/GRPCFront/moderation.grpc.swift
if ! cmp -s "$tmp/moderation.grpc.swift.fixed" "$target"; then
    if $check; then
        echo "out of date: $target (run scripts/generate-proto.sh)" >&2
        status=1
    else
        cp "$tmp/moderation.grpc.swift.fixed" "$target"
        echo "wrote $target"
    fi
fi
exit $status
