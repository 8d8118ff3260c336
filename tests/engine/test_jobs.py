"""The job queue: a newer preview supersedes older ones (queued and running), apply jobs
are never dropped, and run_job turns failures and Cancel into results."""

from __future__ import annotations

import threading
import time

import pytest

from editor.engine.jobs import Job, JobQueue, JobResult, JobWorker, run_job
from editor.engine.progress import Cancelled, Progress


def noop(progress: Progress):
    return "done"


def test_ids_increase_and_kind_is_validated():
    a, b = Job(noop), Job(noop, "preview")
    assert b.id > a.id
    with pytest.raises(ValueError, match="'render'"):
        Job(noop, "render")


def test_new_preview_supersedes_queued_previews():
    queue = JobQueue()
    old = queue.submit(Job(noop, "preview", key="sharpen"))
    new = queue.submit(Job(noop, "preview", key="sharpen"))
    assert old.cancelled and not new.cancelled
    assert queue.pending() == 1 and queue.take(0) is new


def test_new_preview_cancels_the_running_preview():
    queue = JobQueue()
    running = queue.submit(Job(noop, "preview", key="sharpen"))
    assert queue.take(0) is running
    queue.submit(Job(noop, "preview", key="sharpen"))
    assert running.progress.cancelled
    with pytest.raises(Cancelled):
        running.progress.check_cancelled()


def test_preview_keys_only_supersede_matching_previews():
    queue = JobQueue()
    blur = queue.submit(Job(noop, "preview", key="blur"))
    queue.submit(Job(noop, "preview", key="sharpen"))
    assert not blur.cancelled and queue.pending() == 2
    queue.submit(Job(noop, "preview", key=None))  # None matches every preview
    assert blur.cancelled and queue.pending() == 1


def test_apply_jobs_are_never_dropped_or_cancelled_by_previews():
    dropped = []
    queue = JobQueue(on_dropped=dropped.append)
    running_apply = queue.submit(Job(noop, "apply"))
    assert queue.take(0) is running_apply
    a1 = queue.submit(Job(noop, "apply", key="sharpen"))
    p1 = queue.submit(Job(noop, "preview", key="sharpen"))
    a2 = queue.submit(Job(noop, "apply"))
    p2 = queue.submit(Job(noop, "preview"))
    a3 = queue.submit(Job(noop, "apply"))
    assert dropped == [p1]
    assert not any(j.cancelled for j in (running_apply, a1, a2, a3, p2))
    assert [queue.take(0) for _ in range(4)] == [a1, a2, p2, a3]


def test_run_job_reports_value_error_and_cancel_without_raising():
    ok = run_job(Job(lambda p: 42))
    assert ok.value == 42 and ok.ok and ok.seconds >= 0

    def fail(progress):
        raise ZeroDivisionError("boom")

    failed = run_job(Job(fail))
    assert isinstance(failed.error, ZeroDivisionError) and not failed.cancelled and not failed.ok

    def cancels(progress):
        progress.cancel()
        progress.check_cancelled()

    assert run_job(Job(cancels)).cancelled

    late = Job(lambda p: p.cancel() or "stale")  # cancelled just as it finished
    result = run_job(late)
    assert result.cancelled and result.value is None


def test_progress_is_forwarded_to_the_listener():
    seen = []

    def work(progress):
        progress.set_progress(0.5, "half")
        return 1

    job = Job(work)
    job.on_progress = lambda fraction, message: seen.append((fraction, message))
    run_job(job)
    assert seen == [(0.5, "half")]


def test_take_times_out_and_close_wakes_a_blocked_take():
    queue = JobQueue()
    assert queue.take(timeout=0.01) is None
    got = []
    waiter = threading.Thread(target=lambda: got.append(queue.take()))
    waiter.start()
    time.sleep(0.05)
    queue.close()
    waiter.join(2)
    assert not waiter.is_alive() and got == [None]
    with pytest.raises(RuntimeError):
        queue.submit(Job(noop))


def test_cancel_all_cancels_running_and_drops_queued():
    queue = JobQueue()
    running = queue.submit(Job(noop))
    queue.take(0)
    queued = queue.submit(Job(noop))
    queue.cancel_all()
    assert running.cancelled and queued.cancelled and queue.pending() == 0


def test_worker_end_to_end_preview_supersedes_running_preview():
    results: list[JobResult] = []
    done = threading.Event()
    started = threading.Event()

    def slow_preview(progress):
        started.set()
        for step in range(200):  # like tiles: check Cancel before each
            progress.check_cancelled()
            time.sleep(0.01)
        return "slow"

    def callback(result):
        results.append(result)
        if result.job.label == "last":
            done.set()

    queue = JobQueue()
    worker = JobWorker(queue, callback)
    worker.start()
    try:
        first = queue.submit(Job(slow_preview, "preview", "first", key="t"))
        assert started.wait(2)
        apply = queue.submit(Job(lambda p: "applied", "apply", "apply"))
        queue.submit(Job(lambda p: "fresh", "preview", "last", key="t"))
        assert done.wait(5)
    finally:
        worker.stop()
    assert not worker.is_alive()
    by_label = {r.job.label: r for r in results}
    assert by_label["first"].cancelled and by_label["first"].job is first
    assert by_label["first"].seconds < 1.5  # stopped early, not after all 200 steps
    assert by_label["apply"].value == "applied" and by_label["apply"].job is apply
    assert by_label["last"].value == "fresh"
    assert [r.job.label for r in results] == ["first", "apply", "last"]
