"""Helpers shared by scripts/api-client-check.py and scripts/grpc-client-check.py."""
import socket
import subprocess

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


def stop(process, log=""):
    """SIGTERM, at most 20 s to exit; the exit status must be 0."""
    process.terminate()
    try:
        code = process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        code = None
    check("serve exits 0 on SIGTERM", code == 0, f"exit {code} {log}")
