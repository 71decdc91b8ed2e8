"""A model's worker threads behind a bounded queue, and the pixel budget its workers share."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, Callable, Iterator

from RMBG.server.errors import ApiError


class PixelBudget:
    """Caps the pixels being processed at once by a model's workers.

    A request holds its photo's pixel count while it is decoded, predicted, post-processed and
    rendered; another waits while the total would pass ``budget``. One request is always let in,
    whatever its size, so a request under ``max_pixels`` never waits forever. With the default
    budget (``max_pixels``) two 25 MP requests never overlap, so extra ``workers`` cannot multiply
    the peak memory of the largest requests; small ones still overlap.

    Args:
        budget: pixels that may be in flight together (at least 1).
    """

    def __init__(self, budget: int):
        if budget < 1:
            raise ValueError(f"budget: expected a positive number of pixels, got {budget!r}")
        self.budget = budget
        self._in_use = 0
        self._condition = threading.Condition()

    @property
    def in_use(self) -> int:
        """Pixels held now."""
        with self._condition:
            return self._in_use

    @contextmanager
    def hold(self, pixels: int) -> Iterator[None]:
        """Hold ``pixels`` for the ``with`` block, waiting while they do not fit."""
        with self._condition:
            self._condition.wait_for(lambda: self._in_use == 0 or self._in_use + pixels <= self.budget)
            self._in_use += pixels
        try:
            yield
        finally:
            with self._condition:
                self._in_use -= pixels
                self._condition.notify_all()


class ModelRunner:
    """A model's worker threads behind a bounded queue.

    Args:
        name: the model name.
        workers: threads running requests for this model.
        queue_size: requests that may wait beyond those running.
        pixel_budget: pixels its workers may process at once (see :class:`PixelBudget`).
    """

    def __init__(self, name: str, workers: int, queue_size: int, pixel_budget: int = 25_000_000):
        self.name = name
        self.workers = workers
        self.capacity = workers + queue_size
        self.pixels = PixelBudget(pixel_budget)
        self.executor = ThreadPoolExecutor(workers, thread_name_prefix=f"rmbg-{name}")
        self._active = 0
        self._lock = threading.Lock()
        self._durations: deque[float] = deque(maxlen=32)

    @property
    def active(self) -> int:
        """Requests admitted and not finished (running or waiting)."""
        with self._lock:
            return self._active

    def _retry_after_locked(self) -> int:
        typical = sum(self._durations) / len(self._durations) if self._durations else 1.0
        return max(1, math.ceil(typical * self._active / self.workers))

    def _admit(self) -> None:
        with self._lock:
            if self._active >= self.capacity:
                retry = self._retry_after_locked()
                raise ApiError(
                    429, "queue_full", "Server busy: too many requests waiting",
                    f"model {self.name!r}: {self._active} requests are running or queued (workers + queue_size = "
                    f"{self.capacity}); retry after {retry} s",
                    headers={"Retry-After": str(retry)},
                )
            self._active += 1

    def submit(self, function: Callable[..., Any], *args: Any) -> Future:
        """Run ``function(*args)`` on a worker, or raise 429 when the queue is full (503 when shutting down)."""
        self._admit()
        started: list[float] = []

        def timed() -> Any:
            started.append(time.perf_counter())
            return function(*args)

        def finished(future: Future) -> None:
            with self._lock:
                self._active -= 1
                if started and not future.cancelled() and future.exception() is None:
                    self._durations.append(time.perf_counter() - started[0])

        try:
            future = self.executor.submit(timed)
        except RuntimeError:
            with self._lock:
                self._active -= 1
            raise ApiError(503, "shutting_down", "Server is shutting down", "retry against another instance",
                           headers={"Retry-After": "5"}) from None
        future.add_done_callback(finished)
        return future

    def shutdown(self) -> None:
        """Stop accepting work; queued requests are cancelled, running ones finish."""
        self.executor.shutdown(wait=False, cancel_futures=True)
