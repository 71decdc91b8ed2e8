"""``python -m RMBG.server.loadtest``: a bounded load test against a server it starts itself.

Starts ``python -m RMBG serve`` on 127.0.0.1 (a free port, a fresh random API key), waits for
``/healthz``, sends two warm-up requests, then ``--requests`` requests (default 200) from
``--concurrency`` threads (default 8), each on its own keep-alive connection, while a thread
samples the server process's resident memory (psutil). Prints p50/p95/p99/max latency, the
throughput, the error count and RSS at start, peak and end, and exits 1 if any request failed.
Nothing leaves the machine: the only address used is 127.0.0.1.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from RMBG.inference.samples import sample_photo_paths

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass
class LoadReport:
    """What a load test measured. Latencies in seconds, memory in MiB."""

    requests: int
    concurrency: int
    image: str
    size: str
    wall_s: float
    errors: int
    statuses: dict[str, int]
    p50_s: float
    p95_s: float
    p99_s: float
    max_s: float
    throughput_rps: float
    rss_start_mib: float
    rss_peak_mib: float
    rss_end_mib: float
    rss_samples: int
    error_examples: list[str] = field(default_factory=list)
    rss_ready_mib: float = 0.0  # when /healthz first answered, before any request

    def text(self) -> str:
        """A human-readable summary."""
        lines = [
            f"requests      {self.requests} ({self.concurrency} concurrent), image {self.image}, size={self.size}",
            f"wall time     {self.wall_s:.1f} s, throughput {self.throughput_rps:.2f} requests/s",
            f"latency       p50 {self.p50_s:.3f} s, p95 {self.p95_s:.3f} s, p99 {self.p99_s:.3f} s, max {self.max_s:.3f} s",
            f"errors        {self.errors}  (statuses: {self.statuses})",
            f"server RSS    ready {self.rss_ready_mib:.0f} MiB, start {self.rss_start_mib:.0f} MiB (after 2 warm-up requests), "
            f"peak {self.rss_peak_mib:.0f} MiB, end {self.rss_end_mib:.0f} MiB ({self.rss_samples} samples)",
        ]
        lines += [f"  e.g. {example}" for example in self.error_examples]
        return "\n".join(lines)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def multipart_body(fields: dict[str, str], image: bytes, filename: str) -> tuple[bytes, str]:
    """A multipart/form-data body with ``fields`` and ``image_file``; returns (body, content type)."""
    boundary = "rmbg-" + secrets.token_hex(12)
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="image_file"; filename="{filename}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n".encode() + image + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def default_image() -> Path:
    """scikit-image's astronaut photo (512x512, shipped in its wheel)."""
    return next(path for path in sample_photo_paths() if path.name == "astronaut.png")


class ServerProcess:
    """``python -m RMBG serve`` on 127.0.0.1 in a child process, logging to a file."""

    def __init__(self, port: int, key: str, extra_args: Sequence[str], log_path: Path):
        env = dict(os.environ, RMBG_API_KEYS=key, TF_CPP_MIN_LOG_LEVEL=os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"))
        self.port = port
        self.log_path = log_path
        self._log = open(log_path, "wb")
        command = [sys.executable, "-m", "RMBG", "serve", "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", *extra_args]
        self.process = subprocess.Popen(command, env=env, stdout=self._log, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout_s: float) -> None:
        """Poll ``/healthz`` until it answers 200; raise if the server exits or ``timeout_s`` passes."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited with code {self.process.returncode}; log:\n{self.log_tail()}")
            try:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                connection.request("GET", "/healthz")
                if connection.getresponse().status == 200:
                    connection.close()
                    return
                connection.close()
            except OSError:
                pass
            time.sleep(0.5)
        raise TimeoutError(f"the server did not answer /healthz within {timeout_s:g} s; log:\n{self.log_tail()}")

    def log_tail(self, characters: int = 3000) -> str:
        self._log.flush()
        return self.log_path.read_bytes()[-characters:].decode(errors="replace")

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 30 s."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._log.close()


class RssSampler(threading.Thread):
    """Samples a process's resident set size every ``interval_s`` until stopped."""

    def __init__(self, pid: int, interval_s: float):
        super().__init__(daemon=True)
        import psutil  # deferred: optional (psutil, not a dependency) only to sample the server's memory

        self.process = psutil.Process(pid)
        self.interval_s = interval_s
        self.samples: list[int] = []
        self._stop_event = threading.Event()

    def rss(self) -> int:
        return self.process.memory_info().rss

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.samples.append(self.rss())
            self._stop_event.wait(self.interval_s)

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=10)


class RequestSender:
    """Sends the load test's request, each thread on its own keep-alive connection (one reconnect if the server closed it)."""

    def __init__(self, port: int, body: bytes, headers: dict[str, str], timeout_s: float):
        self.port = port
        self.body = body
        self.headers = headers
        self.timeout_s = timeout_s
        self._local = threading.local()

    def _drop_connection(self) -> None:
        self._local.connection.close()
        self._local.connection = None

    def __call__(self) -> tuple[float, str, str | None]:
        """``(seconds, status, detail or None)``: status is the HTTP status, ``connection-error`` or ``bad-body``."""
        started = time.perf_counter()
        for attempt in range(2):
            if getattr(self._local, "connection", None) is None:
                self._local.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout_s)
            try:
                self._local.connection.request("POST", "/api/removebg", body=self.body, headers=self.headers)
                response = self._local.connection.getresponse()
                content = response.read()
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as error:
                self._drop_connection()
                if attempt == 1:
                    return time.perf_counter() - started, "connection-error", f"{type(error).__name__}: {error}"
            except OSError as error:
                self._drop_connection()
                return time.perf_counter() - started, "connection-error", f"{type(error).__name__}: {error}"
        elapsed = time.perf_counter() - started
        if response.status != 200:
            return elapsed, str(response.status), content[:300].decode(errors="replace")
        if not content.startswith(PNG_SIGNATURE):
            return elapsed, "bad-body", f"200 without a PNG ({len(content)} bytes)"
        return elapsed, "200", None


def scaled_image(image: Path, megapixels: float, folder: Path) -> Path:
    """``image`` resized (bicubic, aspect kept) to about ``megapixels``, saved as JPEG quality 90 in ``folder``."""
    with Image.open(image) as source:
        rgb = source.convert("RGB")
    factor = (megapixels * 1e6 / (rgb.width * rgb.height)) ** 0.5
    size = (max(1, int(rgb.width * factor)), max(1, int(rgb.height * factor)))
    path = folder / f"{image.stem}-{size[0]}x{size[1]}.jpg"
    rgb.resize(size, Image.BICUBIC).save(path, quality=90)
    return path


def summarise(results: list[tuple[float, str, str | None]], sampler: "RssSampler", rss: dict[str, int], *,
              concurrency: int, image: str, size: str, wall_s: float) -> LoadReport:
    """The :class:`LoadReport` of finished requests and memory samples."""
    latencies = np.array([r[0] for r in results])
    statuses: dict[str, int] = {}
    for _, status, _ in results:
        statuses[status] = statuses.get(status, 0) + 1
    failures = [f"{status}: {detail}" for _, status, detail in results if status != "200"]
    mib = 1024 * 1024
    return LoadReport(
        requests=len(results), concurrency=concurrency, image=image, size=size, wall_s=wall_s,
        errors=len(failures), statuses=statuses,
        p50_s=float(np.percentile(latencies, 50)), p95_s=float(np.percentile(latencies, 95)),
        p99_s=float(np.percentile(latencies, 99)), max_s=float(latencies.max()),
        throughput_rps=len(results) / wall_s,
        rss_start_mib=rss["start"] / mib, rss_peak_mib=max(sampler.samples + list(rss.values())) / mib,
        rss_end_mib=rss["end"] / mib, rss_samples=len(sampler.samples), error_examples=failures[:3],
        rss_ready_mib=rss["ready"] / mib,
    )


def run_load(
    *,
    requests: int = 200,
    concurrency: int = 8,
    image: Path | None = None,
    megapixels: float | None = None,
    size: str = "full",
    model: str = "u2netp",
    workers: int | None = None,
    queue_size: int | None = None,
    startup_timeout_s: float = 300.0,
    request_timeout_s: float = 120.0,
    sample_interval_s: float = 0.25,
) -> LoadReport:
    """Start a server, load it, stop it; see the module docstring.

    ``megapixels`` resizes the photo to about that size first (``25`` for the largest ``full``
    request). RSS is taken when the server is ready (``rss_ready_mib``), after the two warm-up
    requests (``rss_start_mib``), at its peak and after the load (``rss_end_mib``).

    Raises:
        ValueError: ``requests`` or ``concurrency`` below 1.
        RuntimeError, TimeoutError: the server did not start.
    """
    if requests < 1 or concurrency < 1:
        raise ValueError(f"requests and concurrency must be at least 1, got {requests} and {concurrency}")
    image = Path(image) if image is not None else default_image()
    key = secrets.token_urlsafe(24)
    port = free_port()
    extra = ["--models", model, "--queue-size", str(queue_size if queue_size is not None else max(16, concurrency))]
    if workers is not None:
        extra += ["--workers", str(workers)]
    with tempfile.TemporaryDirectory(prefix="rmbg-loadtest-") as workdir:
        if megapixels is not None:
            image = scaled_image(image, megapixels, Path(workdir))
        body, content_type = multipart_body({"size": size, "format": "png", "model": model}, image.read_bytes(), image.name)
        send = RequestSender(port, body, {"X-Api-Key": key, "Content-Type": content_type}, request_timeout_s)
        server = ServerProcess(port, key, extra, Path(workdir) / "server.log")
        rss: dict[str, int] = {}
        try:
            server.wait_ready(startup_timeout_s)
            sampler = RssSampler(server.process.pid, sample_interval_s)
            rss["ready"] = sampler.rss()
            for _ in range(2):
                _, status, detail = send()
                if status != "200":
                    raise RuntimeError(f"warm-up request failed: {status} {detail}; log:\n{server.log_tail()}")
            rss["start"] = sampler.rss()
            sampler.start()
            started = time.perf_counter()
            with ThreadPoolExecutor(concurrency, thread_name_prefix="load") as pool:
                results = list(pool.map(lambda _: send(), range(requests)))
            wall = time.perf_counter() - started
            time.sleep(sample_interval_s)
            rss["end"] = sampler.rss()
            sampler.stop()
        finally:
            server.stop()
    return summarise(results, sampler, rss, concurrency=concurrency, image=image.name, size=size, wall_s=wall)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point; returns 0 when every request succeeded."""
    parser = argparse.ArgumentParser(prog="python -m RMBG.server.loadtest", description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200, help="requests to send (default 200)")
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight at once (default 8)")
    parser.add_argument("--image", type=Path, default=None, help="photo to send (default: scikit-image's astronaut, 512x512)")
    parser.add_argument("--megapixels", type=float, default=None,
                        help="resize the photo to about this many megapixels first (e.g. 25: the largest size=full request)")
    parser.add_argument("--size", default="full", help="remove.bg size field (default full)")
    parser.add_argument("--model", default="u2netp", help="model name (default u2netp)")
    parser.add_argument("--workers", type=int, default=None, help="server threads per model (server default 1)")
    parser.add_argument("--queue-size", type=int, default=None, help="server queue size (default max(16, concurrency))")
    parser.add_argument("--startup-timeout", type=float, default=300.0, help="seconds to wait for the server (default 300)")
    parser.add_argument("--json", type=Path, default=None, help="also write the report as JSON here")
    args = parser.parse_args(argv)
    report = run_load(
        requests=args.requests, concurrency=args.concurrency, image=args.image, megapixels=args.megapixels, size=args.size,
        model=args.model,
        workers=args.workers, queue_size=args.queue_size, startup_timeout_s=args.startup_timeout,
    )
    print(report.text())
    if args.json is not None:
        args.json.write_text(json.dumps(asdict(report), indent=2) + "\n")
    return 0 if report.errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
