#!/usr/bin/env bash
# Long runs of the worker simulators (issue 17):
#   `bash scripts/simulate.sh [schedules] [first seed]`        the core's rules (WorkerSimulation)
#   `bash scripts/simulate.sh shell [schedules] [first seed]`  the real async shell (ShellSimulation)
# Builds the tests (debug, as scripts/test.sh does) and runs that many seeded schedules;
# prints schedules, steps, violations and steps/s.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
swift build --build-tests -Xcc -O2
if [ "${1:-}" = "shell" ]; then
    DUOGUARD_SHELL_SCHEDULES="${2:-100000}" DUOGUARD_SHELL_FIRST_SEED="${3:-1}" \
        swift test --skip-build --filter 'WorkerSimulationTests.ShellSimulationTests/testShellSchedules'
else
    DUOGUARD_SIM_SCHEDULES="${1:-1000000}" DUOGUARD_SIM_FIRST_SEED="${2:-1}" \
        swift test --skip-build --filter 'WorkerSimulationTests.WorkerSimulationTests/testSchedules'
fi
