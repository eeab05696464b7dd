#!/usr/bin/env python3
"""End-to-end check of the synchronous HTTP API (issue 22) with a client this project did not
write: the official `openai` package, `client.moderations.create(...)` with base_url at a
`duoguard serve` started here (real Llama-3 tokenizer, the tiny fixture model). Checks:

- scores equal `duoguard classify` for the same texts (same model, same rules), under the
  DuoGuard names and the OpenAI names where one corresponds; `flagged` = any category over 0.5;
- error cases through the client's own exceptions: empty input, oversize input, bad threshold
  (400), expired deadline (504), over capacity (429), missing/wrong API key (401);
- hostile HTTP: a body over the limit (413), chunked body (411), invalid JSON (400), 1,000
  idle connections: /healthz and a moderation call still answered (timings printed); 20
  clients trickling a body a byte a second: /healthz and a moderation call still answered,
  and each trickler gets 408 (or is closed) at the request deadline (30 s), not later.

    python3 scripts/api-client-check.py .build/debug/duoguard MODEL.gguf

Prints PASS/FAIL lines; exit 0 when all pass.
"""
import concurrent.futures
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import openai

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from client_check_support import check, finish, free_port, stop  # noqa: E402

binary, model = sys.argv[1], sys.argv[2]


def serve(*extra):
    port, metrics = free_port(), free_port()
    log = tempfile.NamedTemporaryFile(prefix="duoguard-serve-", suffix=".log", delete=False)
    process = subprocess.Popen(
        [binary, "serve", "--model", model, "--threads", "1", "--http-host", "127.0.0.1", "--http-port", str(port),
         "--metrics-host", "127.0.0.1", "--metrics-port", str(metrics), *extra],
        stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as response:
                if response.status == 200:
                    return process, port, metrics
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit(f"FAIL duoguard serve did not become ready (log {log.name})")


def reference(texts):
    """Probabilities per text from `duoguard classify` (3 decimals, its text output)."""
    out = subprocess.run([binary, "classify", "--model", model, "--threads", "1", *texts], capture_output=True, text=True, check=True).stdout
    blocks = out.split("Text: ")[1:]
    return [[float(v) for v in re.findall(r"^\s{4}\S.*?\s(\d\.\d{3})$", block, re.M)] for block in blocks]


def client(port, key="unused"):
    return openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=key, max_retries=0, timeout=30)


def status_of(call):
    try:
        call()
        return 200
    except openai.APIStatusError as error:
        return error.status_code


def probe_and_call(port):
    """(/healthz answered, its ms, a moderation call's HTTP status, its ms)."""
    started = time.time()
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as answer:
        probe_ok = answer.status == 200
    probe_ms = (time.time() - started) * 1000
    started = time.time()
    call_status = status_of(lambda: client(port).moderations.create(input="hello"))
    return probe_ok, probe_ms, call_status, (time.time() - started) * 1000


names = ["violent_crimes", "non_violent_crimes", "sex_related_crimes", "child_sexual_exploitation", "specialized_advice",
         "privacy", "intellectual_property", "indiscriminate_weapons", "hate", "suicide_and_self_harm", "sexual_content",
         "jailbreak_prompts"]

process, port, metrics = serve("--max-text-bytes", "1000", "--max-sync-requests", "2", "--max-wait-ms", "300",
                               "--max-http-body-bytes", "65536")
try:
    c = client(port)
    texts = ["hello there", "How do I build a weapon that hurts many people?", "Ich mag Katzen. 猫が好き。"]
    response = c.moderations.create(model="duoguard", input=texts[:2])
    expected = reference(texts[:2])
    check("results per input", len(response.results) == 2)
    check("model echoed", response.model == "duoguard")
    check("id like OpenAI's", response.id.startswith("modr-"))
    for result, probabilities in zip(response.results, expected):
        scores = result.category_scores.model_dump() if hasattr(result.category_scores, "model_dump") else dict(result.category_scores)
        ours = [round(scores[name], 3) for name in names]
        check("scores equal duoguard classify", all(abs(a - b) <= 0.0011 for a, b in zip(ours, probabilities)), f"{ours} vs {probabilities}")
        check("flagged is max > 0.5", result.flagged == (max(probabilities) > 0.5))
        check("OpenAI names mapped", abs(scores["self-harm"] - scores["suicide_and_self_harm"]) < 1e-6
              and abs(scores["illicit/violent"] - max(scores["violent_crimes"], scores["indiscriminate_weapons"])) < 1e-6)
        check("hate category via the typed client", result.categories.hate == (scores["hate"] > 0.5))
    single = c.moderations.create(input=texts[2])
    check("single string input", len(single.results) == 1)

    check("empty input -> 400", status_of(lambda: c.moderations.create(input="")) == 400)
    check("oversize input -> 400", status_of(lambda: c.moderations.create(input="x" * 1001)) == 400)
    check("bad threshold -> 400", status_of(lambda: c.moderations.create(input="hi", extra_body={"threshold": 1.5})) == 400)
    check("own threshold applies", not c.moderations.create(input=texts[0], extra_body={"threshold": 0.99}).results[0].flagged)
    check("expired deadline -> 504",
          status_of(lambda: c.moderations.create(input="hi", extra_headers={"deadline": "2000-01-01T00:00:00Z"})) == 504)
    # Three texts, two admitted at once: the third is refused (the first two wait 300 ms for company).
    check("over capacity -> 429", status_of(lambda: c.moderations.create(input=["a", "b", "c"])) == 429)
    check("capacity given back", status_of(lambda: c.moderations.create(input=["a", "b"])) == 200)

    # Native route: the Kafka path's ModerationResult, proto3 JSON.
    request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/classify", data=json.dumps({"id": "n1", "text": texts[0]}).encode(),
                                     headers={"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        native = json.load(answer)
    check("native route returns ModerationResult", native["requestId"] == "n1" and len(native["probabilities"]) == 12)

    # Hostile HTTP.
    def raw(payload, read_timeout=5):
        with socket.create_connection(("127.0.0.1", port), timeout=read_timeout) as s:
            s.sendall(payload)
            data = b""
            try:
                while chunk := s.recv(65536):
                    data += chunk
            except (socket.timeout, ConnectionResetError):
                pass
            return data

    big = raw(b"POST /v1/moderations HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n")
    check("huge body -> 413 at its head", big.startswith(b"HTTP/1.1 413"), big[:40])
    chunked = raw(b"POST /v1/moderations HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
    check("chunked body -> 411", chunked.startswith(b"HTTP/1.1 411"), chunked[:40])
    garbage = raw(b"POST /v1/moderations HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n\x00\xff{[\"")
    check("invalid JSON -> 400", garbage.startswith(b"HTTP/1.1 400"), garbage[:40])

    # Slow clients: 20 bodies trickled a byte a second (a 64-byte body would take 64 s).
    trickled = []

    def trickle():
        started = time.time()
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"POST /v1/classify HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 64\r\n\r\n")
            answer = b""
            while time.time() - started < 45:
                try:
                    s.sendall(b" ")
                    answer = s.recv(4096)
                    break  # an answer, or b"" when closed
                except socket.timeout:
                    continue
                except OSError:
                    break
            trickled.append((time.time() - started, answer[:12]))

    tricklers = [threading.Thread(target=trickle) for _ in range(20)]
    for thread in tricklers:
        thread.start()
    time.sleep(2)
    probe_ok, probe_ms, call_status, call_ms = probe_and_call(port)
    check(f"20 trickling clients: /healthz answered ({probe_ms:.0f} ms)", probe_ok)
    check(f"20 trickling clients: moderation answered ({call_ms:.0f} ms)", call_status == 200)

    # 1,000 idle connections, then a probe and a moderation call.
    idle = []
    for _ in range(1000):
        s = socket.socket()
        s.connect(("127.0.0.1", port))
        idle.append(s)
    time.sleep(0.5)
    probe_ok, probe_ms, call_status, call_ms = probe_and_call(port)
    check(f"1000 idle connections: /healthz answered ({probe_ms:.0f} ms)", probe_ok)
    check(f"1000 idle connections: moderation answered ({call_ms:.0f} ms)", call_status == 200)
    for s in idle:
        s.close()
    for thread in tricklers:
        thread.join(timeout=50)
    late = [(round(took, 1), head) for took, head in trickled if took > 35 or not (head.startswith(b"HTTP/1.1 408") or head == b"")]
    ends = sorted(took for took, _ in trickled)
    answers = sorted({head[:12].decode(errors="replace").strip() or "closed" for _, head in trickled})
    check(f"20 trickling clients: 408 or closed at the 30 s request deadline ({len(trickled)} ended after "
          f"{ends[0] if ends else 0:.1f}-{ends[-1] if ends else 0:.1f} s: {answers})",
          len(trickled) == 20 and not late, late)
finally:
    stop(process)

# API key.
with tempfile.NamedTemporaryFile("w", suffix=".key", delete=False) as key_file:
    key_file.write("s3cret-key\n")
process, port, _ = serve("--api-key-file", key_file.name)
try:
    check("wrong API key -> 401", status_of(lambda: client(port, "nope").moderations.create(input="hi")) == 401)
    check("right API key -> 200", status_of(lambda: client(port, "s3cret-key").moderations.create(input="hi")) == 200)
finally:
    stop(process)
    os.unlink(key_file.name)

finish()
