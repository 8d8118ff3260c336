"""Which torch device the engine runs on: CUDA, then Apple MPS, then CPU."""

from __future__ import annotations

import os
import warnings

import torch

#: Why the last pick_device() call did not get what it asked for (None when it did);
#: the settings dialog shows it next to the device choice.
last_warning: str | None = None

#: What the user chose in Preferences ("auto", "cpu", "cuda", "mps"); model loading asks
#: :func:`default_device` so the choice reaches every tool without being passed around.
_preference: str = "auto"


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def available_devices() -> list[str]:
    """Device kinds present on this machine, best first; always ends with "cpu"."""
    found = []
    if torch.cuda.is_available():
        found.append("cuda")
    if _mps_available():
        found.append("mps")
    found.append("cpu")
    return found


def resolve_device(preference: str | torch.device = "auto") -> tuple[torch.device, str | None]:
    """The device for ``preference`` ("auto", "cuda", "cuda:1", "mps", "cpu") and a
    warning string when an explicit choice is unavailable and CPU is used instead."""
    text = str(preference or "auto").strip().lower()
    if text == "auto":
        return torch.device(available_devices()[0]), None
    try:
        wanted = torch.device(text)
    except RuntimeError:
        raise ValueError(f"unknown device {preference!r}; use auto, cuda, mps or cpu") from None
    if wanted.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"unsupported device {preference!r}; use auto, cuda, mps or cpu")
    usable = (wanted.type == "cpu"
              or (wanted.type == "mps" and _mps_available())
              or (wanted.type == "cuda" and torch.cuda.is_available()
                  and (wanted.index is None or wanted.index < torch.cuda.device_count())))
    if usable:
        return wanted, None
    return torch.device("cpu"), f"Device {text!r} is not available here; using the CPU instead."


def pick_device(preference: str | torch.device = "auto") -> torch.device:
    """Like :func:`resolve_device`, but warns (and records ``last_warning``) on fallback."""
    global last_warning
    device, last_warning = resolve_device(preference)
    if last_warning:
        warnings.warn(last_warning, RuntimeWarning, stacklevel=2)
    return device


def default_cpu_threads() -> int:
    # Beyond ~8 threads small convolutions stop scaling and the UI thread starves.
    return max(1, min(os.cpu_count() or 1, 8))


def set_cpu_threads(n: int | None = None) -> int:
    """Set torch's intra-op CPU threads; 0/None means :func:`default_cpu_threads`."""
    if n is not None and n < 0:
        raise ValueError(f"thread count must be >= 0, got {n!r}")
    global _threads
    count = n or default_cpu_threads()
    torch.set_num_threads(count)
    _threads = count
    return count


def flush_denormals() -> None:
    """Treat denormal floats as zero on the calling thread (x86 FTZ/DAZ; a no-op where
    unsupported). Trained weights and activations drift into the denormal range, where
    every multiply takes a slow microcode path: measured on the deblur network at 1024²
    on 2 threads, 5.19 -> 4.31 s. Values that small are far below 8- and 16-bit output
    precision."""
    torch.set_flush_denormal(True)


_threads: int | None = None


def apply_thread_setting() -> None:
    """Re-apply the chosen thread count on the calling thread. With OpenMP builds the
    count can be per-thread, so the engine's worker calls this before each job."""
    if _threads is not None and torch.get_num_threads() != _threads:
        torch.set_num_threads(_threads)
    flush_denormals()


def set_preferred_device(preference: str) -> torch.device:
    """Remember the user's device choice for all later model loads; returns what it
    resolves to here (CPU, with ``last_warning`` set, when the choice is unavailable)."""
    global _preference
    device = pick_device(preference)  # validates before we store it
    _preference = str(preference)
    return device


def default_device() -> torch.device:
    """The device models load onto when the caller does not say."""
    return resolve_device(_preference)[0]


def cpu_has_native_bf16() -> bool:
    """oneDNN runs bfloat16 convolutions in hardware on this CPU (AVX512-BF16 or AMX)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def fast_convolutions(model: torch.nn.Module, device: torch.device | str):
    """A context for running a convolutional ``model`` on ``device`` as fast as the hardware
    allows, and the function that prepares each input tensor for it.

    On a CPU: channels-last memory layout (oneDNN's native one: identical results, ~1.2x
    faster for the deblurring network, measured), plus bfloat16 arithmetic where the CPU has
    it in hardware (another ~1.9x there; outputs within 0.1/255 of float32, measured on the
    deblurring network). ``RESTORA_BF16=0`` keeps float32. Elsewhere: unchanged."""
    import contextlib

    device = torch.device(device)
    if device.type != "cpu":
        return contextlib.nullcontext(), lambda tensor: tensor
    model.to(memory_format=torch.channels_last)
    use_bf16 = os.environ.get("RESTORA_BF16", "1") != "0" and cpu_has_native_bf16()
    context = (torch.autocast("cpu", dtype=torch.bfloat16) if use_bf16
               else contextlib.nullcontext())
    return context, lambda tensor: tensor.contiguous(memory_format=torch.channels_last)
