"""The ``serve`` section: ``python -m RMBG serve`` started as a user starts it; seconds until
``/healthz`` answers, idle resident memory (the whole process tree, from ``/proc``), then the
latency of a few ``POST /api/removebg`` requests and the memory after them."""

from __future__ import annotations

import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Callable

from RMBG.benchmark.process import log_tail

#: Seconds the server is left idle after it answers before its memory is read.
IDLE_S = 3.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def tree_rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and all its descendants, MB (10^6 bytes), from ``/proc``."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            pass
        todo += children.get(current, [])
    return total / 1e6


def _multipart(field: str, path: Path) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{path.name}\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n").encode()
    return head + path.read_bytes() + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def _wait_ready(url: str, child: subprocess.Popen, timeout: float) -> float:
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        if child.poll() is not None:
            raise RuntimeError(f"serve: exited with status {child.returncode} before answering {url}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return time.perf_counter() - start
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)
    raise TimeoutError(f"serve: {url} did not answer within {timeout:.0f} s")


def _request(url: str, key: str, photo: Path) -> float:
    body, content_type = _multipart("image_file", photo)
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": content_type, "X-Api-Key": key})
    start = time.perf_counter()
    with urllib.request.urlopen(request, timeout=300) as response:
        data = response.read()
        if response.status != 200 or not data:
            raise RuntimeError(f"serve: POST {url} answered {response.status} with {len(data)} bytes")
    return time.perf_counter() - start


def measure_server(photo: Path, log_path: Path, *, requests: int = 3, timeout: float = 600.0,
                   log: Callable[[str], None] = print) -> dict:
    """Start ``python -m RMBG serve`` on a free port and measure it (see the module docstring).

    Returns:
        ``ready_s``, ``idle_rss_mb``, ``first_request_s``, ``request_s_median`` (over the later
        requests), ``rss_after_requests_mb``, ``requests`` and the command line.

    Raises:
        RuntimeError: the server exited early or a request failed (the server's log is quoted).
        TimeoutError: it did not answer in ``timeout`` seconds.
    """
    port, key = free_port(), uuid.uuid4().hex
    argv = [sys.executable, "-m", "RMBG", "serve", "--port", str(port), "--log-level", "warning"]
    env = {**os.environ, "RMBG_API_KEYS": key}
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as output:
        child = subprocess.Popen(argv, stdout=output, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        try:
            ready = _wait_ready(f"http://127.0.0.1:{port}/healthz", child, timeout)
            time.sleep(IDLE_S)
            idle = tree_rss_mb(child.pid)
            log(f"serve answered after {ready:.1f} s; idle RSS {idle:.0f} MB; {requests} request(s)")
            latencies = [_request(f"http://127.0.0.1:{port}/api/removebg", key, photo) for _ in range(max(1, requests))]
            after = tree_rss_mb(child.pid)
        except (RuntimeError, TimeoutError, urllib.error.URLError) as error:
            raise RuntimeError(f"{error}; end of '{log_path}':\n{log_tail(log_path)}") from None
        finally:
            _stop(child)
    later = latencies[1:] or latencies
    return {"command": "python " + " ".join(argv[1:]), "ready_s": ready, "idle_rss_mb": idle, "first_request_s": latencies[0],
            "request_s_median": statistics.median(later), "rss_after_requests_mb": after, "requests": len(latencies),
            "photo": photo.name}


def _stop(child: subprocess.Popen) -> None:
    if child.poll() is None:
        os.killpg(child.pid, signal.SIGTERM)
        try:
            child.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()


__all__ = ["free_port", "measure_server", "tree_rss_mb"]
