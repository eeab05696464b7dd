"""Helpers shared by scripts/api-client-check.py and scripts/grpc-client-check.py."""
import socket

failures = []
passed = []


def check(name, condition, detail=""):
    """Prints PASS/FAIL for one expectation and remembers failures."""
    print(("PASS " if condition else "FAIL ") + name + (f": {detail}" if detail and not condition else ""))
    (passed if condition else failures).append(name)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def finish():
    """The closing line (N passed, N failed) and the exit status."""
    print(f"{len(passed)} passed, {len(failures)} failed")
    raise SystemExit(1 if failures else 0)
