#!/usr/bin/env bash
# Long run of the worker-core simulator (issue 17): `bash scripts/simulate.sh [schedules] [first seed]`.
# Builds the tests (debug, as scripts/test.sh does) and runs WorkerSimulationTests.testSchedules
# with that many seeded schedules; prints schedules, steps, violations and steps/s.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
swift build --build-tests -Xcc -O2
DUOGUARD_SIM_SCHEDULES="${1:-1000000}" DUOGUARD_SIM_FIRST_SEED="${2:-1}" \
    swift test --skip-build --filter 'WorkerSimulationTests.WorkerSimulationTests/testSchedules'
