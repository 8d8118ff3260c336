"""Background jobs, Qt-free: a queue where a newer preview supersedes older previews,
apply jobs wait their turn, and every job can be cancelled.

The Qt engine thread (editor/qt) wraps :class:`JobQueue` + :func:`run_job` and turns
``Job.on_progress`` and the :class:`JobResult` into signals; headless code and tests use
:class:`JobWorker`. A job's ``fn`` receives the job's own :class:`Progress`, checks it
before every tile/stage, and must not touch the document: the caller applies the result,
so a cancelled job leaves the document exactly as it was.
"""

from __future__ import annotations

import itertools
import logging
import threading
import sys
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable

from editor.engine.progress import Cancelled, Progress

log = logging.getLogger(__name__)

KINDS = ("preview", "apply")
_ids = itertools.count(1)
_ids_lock = threading.Lock()


class Job:
    """One unit of engine work. ``key`` groups previews (e.g. a tool id): a new preview
    supersedes previews with the same key; a ``None`` key on either side matches all."""

    def __init__(self, fn: Callable[[Progress], Any], kind: str = "apply", label: str = "",
                 key: str | None = None) -> None:
        if kind not in KINDS:
            raise ValueError(f"job kind must be one of {KINDS}, got {kind!r}")
        with _ids_lock:
            self.id = next(_ids)
        self.fn = fn
        self.kind = kind
        self.label = label
        self.key = key
        #: Set by whoever shows progress (e.g. the Qt thread emits a signal from it);
        #: called on the worker thread with (fraction, message).
        self.on_progress: Callable[[float, str], None] | None = None
        self.progress = Progress(self._report)  # its own cancel event: cancelling is per job

    def _report(self, fraction: float, message: str) -> None:
        if self.on_progress is not None:
            self.on_progress(fraction, message)

    def cancel(self) -> None:
        self.progress.cancel()

    @property
    def cancelled(self) -> bool:
        return self.progress.cancelled

    def supersedes(self, other: "Job") -> bool:
        return (self.kind == "preview" and other.kind == "preview"
                and (self.key is None or other.key is None or self.key == other.key))

    def __repr__(self) -> str:
        return f"Job(id={self.id}, kind={self.kind!r}, label={self.label!r}, key={self.key!r})"


@dataclass
class JobResult:
    """What came of a job. ``cancelled`` results carry no value: discard them."""

    job: Job
    value: Any = None
    error: BaseException | None = None
    cancelled: bool = False
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None and not self.cancelled


def run_job(job: Job) -> JobResult:
    """Run ``job.fn(job.progress)``; never raises for the job's own failures.

    Catches ``Exception`` (not KeyboardInterrupt/SystemExit, which should still stop the
    program). A job cancelled while it finished is reported cancelled: its result may be
    stale (superseded preview) or unwanted (user pressed Cancel), so the caller drops it.
    """
    start = time.perf_counter()
    result = JobResult(job)
    device = sys.modules.get("editor.engine.device")  # only when torch is in play already
    if device is not None:
        device.apply_thread_setting()
    try:
        job.progress.check_cancelled()  # superseded between take() and here
        value = job.fn(job.progress)
        job.progress.check_cancelled()
        result.value = value
    except Cancelled:
        result.cancelled = True
    except Exception as error:  # the job failed; the engine thread must survive it
        log.debug("job %r failed", job, exc_info=True)
        result.error = error
    result.seconds = time.perf_counter() - start
    return result


class JobQueue:
    """Thread-safe FIFO of jobs with preview coalescing (see :meth:`submit`).

    ``on_dropped(job)`` is called (outside the lock) for queued jobs removed without
    running, so a caller waiting on them can let go.
    """

    def __init__(self, on_dropped: Callable[[Job], None] | None = None) -> None:
        self._queue: deque[Job] = deque()
        self._running: list[Job] = []
        self._closed = False
        self._cond = threading.Condition()
        self._on_dropped = on_dropped

    def submit(self, job: Job) -> Job:
        """Queue ``job``. A preview cancels and removes queued previews it supersedes and
        cancels a running one; apply jobs are never superseded."""
        with self._cond:
            if self._closed:
                raise RuntimeError("job queue is closed")
            dropped = [old for old in self._queue if job.supersedes(old)]
            for old in dropped:
                self._queue.remove(old)
                old.cancel()
            for running in self._running:
                if job.supersedes(running):
                    running.cancel()
            self._queue.append(job)
            self._cond.notify()
        self._report_dropped(dropped)
        return job

    def take(self, timeout: float | None = None) -> Job | None:
        """Next job, already marked running (so a newer preview can still cancel it);
        None on timeout or once the queue is closed."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while not self._queue and not self._closed:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                self._cond.wait(remaining)
            if self._closed:
                return None
            job = self._queue.popleft()
            self._running.append(job)
            return job

    def mark_running(self, job: Job) -> None:
        """For jobs run without take(): lets submit() supersede them while they run."""
        with self._cond:
            if job not in self._running:
                self._running.append(job)

    def mark_done(self, job: Job) -> None:
        with self._cond:
            if job in self._running:
                self._running.remove(job)
            self._cond.notify_all()

    def run_one(self, timeout: float | None = None) -> JobResult | None:
        """take() + run_job() + mark_done(); None when nothing came."""
        job = self.take(timeout)
        if job is None:
            return None
        try:
            return run_job(job)
        finally:
            self.mark_done(job)

    def cancel_all(self) -> None:
        """Cancel running jobs and drop queued ones; the queue stays open."""
        with self._cond:
            dropped = list(self._queue)
            self._queue.clear()
            for job in dropped + self._running:
                job.cancel()
        self._report_dropped(dropped)

    def close(self) -> None:
        """Cancel everything and wake every take(); later submits raise RuntimeError."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self.cancel_all()

    @property
    def closed(self) -> bool:
        return self._closed

    def pending(self) -> int:
        """Queued jobs, not counting running ones."""
        with self._cond:
            return len(self._queue)

    def running(self) -> list[Job]:
        with self._cond:
            return list(self._running)

    def _report_dropped(self, jobs: list[Job]) -> None:
        if self._on_dropped is not None:
            for job in jobs:
                self._on_dropped(job)


class JobWorker(threading.Thread):
    """Headless engine thread: take -> run_job -> ``callback(result)`` until closed."""

    def __init__(self, queue: JobQueue, callback: Callable[[JobResult], None] | None = None,
                 name: str = "restora-engine") -> None:
        super().__init__(name=name, daemon=True)
        self.queue = queue
        self.callback = callback

    def run(self) -> None:
        while (result := self.queue.run_one()) is not None:
            if self.callback is not None:
                try:
                    self.callback(result)
                except Exception:  # a broken listener must not kill the engine thread
                    log.exception("job callback failed for %r", result.job)

    def stop(self, timeout: float | None = 5.0) -> None:
        """Close the queue (cancelling its jobs) and wait for the thread to finish."""
        self.queue.close()
        self.join(timeout)
