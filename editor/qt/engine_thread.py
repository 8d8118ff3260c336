"""The one long-lived worker thread that runs every tool/model job.

Why one thread and not a pool: models are big and the accelerator is one device; running
jobs one after another keeps memory predictable, and the JobQueue already lets a new
preview cancel the stale one instead of queueing behind it.

Threading rule: nothing here touches a widget. The worker only emits signals; because
the receivers live in the GUI thread, Qt delivers them as queued calls there.

Note: ``started`` and ``finished`` deliberately shadow QThread's argument-less signals of
the same name (the job API the rest of the app uses); the thread's own lifetime is
observed with ``isRunning()``/``wait()`` instead.
"""

from __future__ import annotations

import time

from PySide6.QtCore import QObject, QThread, Qt, Signal

from editor.engine.jobs import Job, JobQueue, JobResult, run_job

#: Minimum seconds between two progress signals of one job: a tiled model can report
#: hundreds of tiles a second, and each signal costs a GUI repaint.
PROGRESS_INTERVAL = 0.05


class EngineThread(QThread):
    #: (job id, fraction 0..1, message) — throttled to one per PROGRESS_INTERVAL per job.
    progress = Signal(int, float, str)
    #: JobResult of every submitted job, including cancelled and superseded ones.
    finished = Signal(object)
    #: job id, when the worker starts running it.
    started = Signal(int)
    # Internal: results of jobs dropped from the queue before they ran, re-emitted as
    # ``finished`` on the next event-loop turn (never re-entrantly inside submit()).
    _dropped = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("restora-engine")
        self._queue = JobQueue(on_dropped=self._on_dropped)
        self._dropped.connect(self.finished, Qt.ConnectionType.QueuedConnection)
        self._stopped = False

    # -- GUI-thread API -------------------------------------------------------------------
    def submit(self, job: Job) -> Job:
        """Queue ``job`` (starting the worker on first use). A preview supersedes queued
        and running previews with the same key; those report ``cancelled``."""
        if self._stopped:
            raise RuntimeError("the engine thread has been stopped")
        job.on_progress = self._throttled_reporter(job)
        if not self.isRunning():
            self.start()
        return self._queue.submit(job)

    def cancel_all(self) -> None:
        self._queue.cancel_all()

    def running_jobs(self) -> list[Job]:
        return self._queue.running()

    def pending(self) -> int:
        return self._queue.pending()

    def stop(self, timeout_ms: int = 30_000) -> bool:
        """Cancel everything, end the worker and wait for it. Returns True when the thread
        has ended. Safe to call more than once (closeEvent and test teardown both do)."""
        self._stopped = True
        self._queue.close()
        if self.isRunning():
            return self.wait(timeout_ms)
        return True

    # -- worker thread ----------------------------------------------------------------------
    def run(self) -> None:
        while True:
            job = self._queue.take()
            if job is None:  # queue closed: stop() was called
                return
            self.started.emit(job.id)
            try:
                result = run_job(job)
            finally:
                self._queue.mark_done(job)
            self.finished.emit(result)

    def _throttled_reporter(self, job: Job):
        last = [0.0, ""]

        def report(fraction: float, message: str) -> None:
            # Always let the first, the final and message-changing reports through so the
            # status bar never sticks at a stale stage name or 99 %.
            now = time.monotonic()
            if fraction >= 1.0 or message != last[1] or now - last[0] >= PROGRESS_INTERVAL:
                last[0], last[1] = now, message
                self.progress.emit(job.id, float(fraction), message or "")

        return report

    def _on_dropped(self, job: Job) -> None:
        self._dropped.emit(JobResult(job, cancelled=True))
