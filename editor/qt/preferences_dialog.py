"""Preferences: where the engine runs (device) and how many CPU threads it may use."""

from __future__ import annotations

import warnings

from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QFormLayout, QLabel,
                               QSpinBox, QWidget)

from editor.engine import device as engine_device
from editor.qt.settings import Settings

_DEVICE_LABELS = {"cuda": "NVIDIA GPU (CUDA)", "mps": "Apple GPU (Metal)", "cpu": "CPU"}


def apply_engine_settings(settings: Settings) -> tuple[str, str | None]:
    """Point the engine at the configured device and thread count. Returns the device's
    display name and a warning when the chosen device was unavailable (CPU is used then)."""
    try:
        engine_device.set_cpu_threads(max(0, settings.get("engine/cpu_threads")))
    except ValueError:
        engine_device.set_cpu_threads(0)
    preference = settings.get("engine/device") or "auto"
    with warnings.catch_warnings():
        # The fallback warning is shown in the UI instead of on stderr.
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            chosen = engine_device.set_preferred_device(preference)
            warning = engine_device.last_warning
        except ValueError as error:
            chosen, warning = engine_device.set_preferred_device("auto"), str(error)
    return device_display_name(str(chosen)), warning


def device_display_name(device: str) -> str:
    kind, _, index = device.partition(":")
    label = _DEVICE_LABELS.get(kind, device)
    return f"{label} {index}" if index else label


class PreferencesDialog(QDialog):
    def __init__(self, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Preferences")
        self._settings = settings
        layout = QFormLayout(self)

        self.device_combo = QComboBox()
        self.device_combo.addItem("Automatic (best available)", "auto")
        for kind in engine_device.available_devices():
            self.device_combo.addItem(_DEVICE_LABELS.get(kind, kind), kind)
        current = settings.get("engine/device")
        index = self.device_combo.findData(current)
        if index < 0:
            # A device saved on another machine (or unplugged): keep it visible rather than
            # silently rewriting the user's choice.
            self.device_combo.addItem(f"{current} (not available)", current)
            index = self.device_combo.count() - 1
        self.device_combo.setCurrentIndex(index)
        self.device_combo.setToolTip("Where tools and models run; Automatic prefers a GPU")
        layout.addRow("Compute device:", self.device_combo)

        self.threads_spin = QSpinBox()
        self.threads_spin.setRange(0, 256)
        self.threads_spin.setSpecialValueText(
            f"Automatic ({engine_device.default_cpu_threads()})")
        self.threads_spin.setValue(max(0, settings.get("engine/cpu_threads")))
        self.threads_spin.setToolTip("CPU threads for tools running on the CPU "
                                     "(0 = automatic); fewer keeps the rest of the computer responsive")
        layout.addRow("CPU threads:", self.threads_spin)

        self.warning_label = QLabel(engine_device.last_warning or "")
        self.warning_label.setWordWrap(True)
        layout.addRow(self.warning_label)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addRow(buttons)

    def store(self) -> None:
        """Write the dialog's choices to the settings (the caller applies them)."""
        self._settings.set("engine/device", self.device_combo.currentData())
        self._settings.set("engine/cpu_threads", self.threads_spin.value())
