#!/usr/bin/env bash
# Installs the Debian packages the build and the tests need, when missing (idempotent).
#   librdkafka-dev  the Kafka client library (the CRdKafka module links it)
#   pkg-config      SwiftPM finds librdkafka through it
#   kcat            a second, independent Kafka client used by tests and benchmarks
#   protobuf-compiler  regenerates the committed .pb.swift files (scripts/generate-proto.sh)
set -euo pipefail
packages=(librdkafka-dev pkg-config kcat protobuf-compiler)
missing=()
for package in "${packages[@]}"; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if ((${#missing[@]})); then
    sudo=""
    [[ $(id -u) == 0 ]] || sudo="sudo"
    echo "installing: ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
