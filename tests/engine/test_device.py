"""Device choice: CUDA, then MPS, then CPU; unavailable explicit choices fall back."""

from __future__ import annotations

import pytest
import torch

from editor.engine import device as dev

NO_ACCELERATOR = dev.available_devices() == ["cpu"]


def test_auto_picks_the_best_present_device():
    picked = dev.pick_device("auto")
    assert picked.type == dev.available_devices()[0]
    if NO_ACCELERATOR:
        assert picked == torch.device("cpu")
    assert dev.available_devices()[-1] == "cpu"


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_unavailable_choice_falls_back_to_cpu_with_warning():
    with pytest.warns(RuntimeWarning, match="not available"):
        picked = dev.pick_device("cuda")
    assert picked == torch.device("cpu")
    assert "cuda" in dev.last_warning
    assert dev.resolve_device("cpu") == (torch.device("cpu"), None)


def test_unknown_device_name_is_an_error():
    with pytest.raises(ValueError, match="gpu0"):
        dev.pick_device("gpu0")


def test_set_cpu_threads_default_and_explicit():
    before = torch.get_num_threads()
    try:
        assert dev.set_cpu_threads(0) == dev.default_cpu_threads() == torch.get_num_threads()
        assert dev.set_cpu_threads(1) == 1 == torch.get_num_threads()
        with pytest.raises(ValueError):
            dev.set_cpu_threads(-1)
    finally:
        torch.set_num_threads(before)


def test_preferred_device_reaches_model_loading_default():
    from editor.engine import device

    try:
        assert device.set_preferred_device("cpu").type == "cpu"
        assert device.default_device().type == "cpu"
        with pytest.raises(ValueError):
            device.set_preferred_device("gpu0")
        assert device.default_device().type == "cpu"  # a bad choice is not stored
    finally:
        device.set_preferred_device("auto")


def test_worker_threads_get_the_chosen_thread_count():
    import threading

    import torch

    from editor.engine import device
    from editor.engine.jobs import Job, run_job

    seen = []
    before = torch.get_num_threads()
    try:
        device.set_cpu_threads(1)
        t = threading.Thread(target=lambda: seen.append(run_job(Job(lambda p: torch.get_num_threads())).value))
        t.start()
        t.join()
        assert seen == [1]
    finally:
        device.set_cpu_threads(before)


def test_fast_convolutions_keep_results_within_a_level_and_float32_on_request(monkeypatch):
    from editor.engine.device import fast_convolutions

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 5, padding=2), torch.nn.ReLU(),
                              torch.nn.Conv2d(8, 3, 5, padding=2))
    x = torch.rand(1, 3, 32, 40)
    with torch.inference_mode():
        expected = net(x)
        context, prepare = fast_convolutions(net, "cpu")
        with context:
            fast = net(prepare(x)).float()
        # bfloat16 (where the CPU has it) keeps ~3 significant digits: far below a level.
        assert (fast - expected).abs().max() < 1 / 255
        monkeypatch.setenv("RESTORA_BF16", "0")
        context, prepare = fast_convolutions(net, "cpu")
        with context:
            exact = net(prepare(x))
        assert torch.allclose(exact, expected, atol=1e-6)
