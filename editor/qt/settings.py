"""One typed table of every persisted setting, over QSettings.

Why a table: QSettings stores ini values as strings (``"true"``, ``"1.5"``, a lone string
for a one-item list), so every read must be coerced by type; keeping key, type, default
and meaning in one place makes that coercion automatic and lets the Preferences dialog
and the tests enumerate what exists. Per-tool parameters (``tools/<id>/<param>``) are
typed by the tool's own :class:`~editor.tools.schema.Param` instead of this table.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QSettings

from editor.tools.schema import Tool

MAX_RECENT = 10


@dataclass(frozen=True)
class Setting:
    key: str
    type: type          # bool, int, float, str, list (of str) or bytes
    default: Any
    doc: str


SETTINGS: dict[str, Setting] = {s.key: s for s in (
    Setting("window/geometry", bytes, b"", "Main window geometry (QWidget.saveGeometry)."),
    Setting("window/state", bytes, b"", "Dock and toolbar layout (QMainWindow.saveState)."),
    Setting("files/recent", list, [], "Recently opened files, newest first (at most 10)."),
    Setting("files/last_open_dir", str, "", "Folder the Open dialog starts in."),
    Setting("files/last_work_dir", str, "", "Folder the Save Work As (.ora) dialog starts in."),
    Setting("files/last_export_dir", str, "", "Folder the Export As dialog starts in."),
    Setting("files/last_video_dir", str, "",
            "Folder the Video super-resolution dialog's file pickers start in."),
    Setting("look/before_dir", str, "", "Learn my look: the last folder of photos before editing."),
    Setting("look/after_dir", str, "", "Learn my look: the last folder of the edited photos."),
    Setting("look/source", str, "folders", "Learn my look: pairs from 'folders' or 'layers'."),
    Setting("export/format", str, "PNG", "Format last chosen in Export As."),
    Setting("export/jpeg_quality", int, 92, "JPEG quality 1-100 last used for export."),
    Setting("export/webp_quality", int, 90, "WebP quality 1-100 last used for export."),
    Setting("engine/device", str, "auto", "Compute device: auto, cpu, cuda, cuda:N or mps."),
    Setting("engine/cpu_threads", int, 0, "Torch CPU threads; 0 lets the engine decide."),
    Setting("view/show_mask_overlay", bool, False, "Show the active layer's mask as a red overlay."),
    Setting("brush/size", float, 60.0, "Mask brush diameter in document pixels."),
    Setting("brush/hardness", float, 0.8, "Mask brush edge hardness 0-1."),
    Setting("brush/opacity", float, 1.0, "Mask brush opacity 0-1."),
    Setting("tools/current", str, "", "Id of the tool last shown in the Tool panel."),
    Setting("tools/preview", bool, True, "Whether tool previews are on."),
)}


def _coerce(kind: type, value: Any, default: Any) -> Any:
    """Turn what QSettings handed back (often a string from an ini file) into ``kind``."""
    if value is None:
        return default
    try:
        if kind is bool:
            if isinstance(value, str):
                low = value.strip().lower()
                if low in ("true", "1", "yes", "on"):
                    return True
                if low in ("false", "0", "no", "off", ""):
                    return False
                return default
            return bool(value)
        if kind is int:
            return int(float(value))
        if kind is float:
            return float(value)
        if kind is str:
            return str(value)
        if kind is list:
            # An ini file with a single entry gives back a plain string, none gives "".
            if isinstance(value, str):
                return [value] if value else []
            return [str(v) for v in value]
        if kind is bytes:
            if isinstance(value, QByteArray):
                return bytes(value.data())
            if isinstance(value, (bytes, bytearray)):
                return bytes(value)
            return default
    except (TypeError, ValueError):
        return default
    raise TypeError(f"unsupported setting type {kind!r}")


class Settings:
    """Typed get/set over a QSettings store. Unknown keys raise KeyError, which catches
    typos at the call site instead of silently reading a default forever."""

    def __init__(self, qsettings: QSettings | None = None) -> None:
        # QSettings() honours QSettings.setDefaultFormat/setPath, which is how the tests
        # point it at a temporary ini file.
        self._q = qsettings if qsettings is not None else QSettings()

    @property
    def qsettings(self) -> QSettings:
        return self._q

    def get(self, key: str) -> Any:
        spec = SETTINGS[key]
        default = list(spec.default) if spec.type is list else spec.default
        return _coerce(spec.type, self._q.value(key), default)

    def set(self, key: str, value: Any) -> None:
        spec = SETTINGS[key]
        value = _coerce(spec.type, value, spec.default)
        if spec.type is bytes:
            value = QByteArray(value)
        self._q.setValue(key, value)

    def sync(self) -> None:
        self._q.sync()

    # -- per-tool parameter memory ------------------------------------------------------
    def tool_values(self, tool: Tool) -> dict:
        """Last values used for ``tool``; anything missing or no longer valid (the schema
        changed since) falls back to the default."""
        out = tool.defaults()
        for p in tool.params:
            raw = self._q.value(f"tools/{tool.id}/{p.name}")
            if raw is None:
                continue
            try:
                out[p.name] = p.validate(raw)
            except ValueError:
                pass
        return out

    def set_tool_values(self, tool: Tool, values: dict) -> None:
        for p in tool.params:
            if p.name in values:
                self._q.setValue(f"tools/{tool.id}/{p.name}", values[p.name])

    # -- recent files ---------------------------------------------------------------------
    def recent_files(self) -> list[str]:
        return self.get("files/recent")[:MAX_RECENT]

    def add_recent(self, path: str | Path) -> None:
        p = str(Path(path).resolve())
        files = [f for f in self.recent_files() if f != p]
        self.set("files/recent", [p, *files][:MAX_RECENT])

    def remove_recent(self, path: str | Path) -> None:
        p = str(Path(path))
        resolved = str(Path(path).resolve())
        self.set("files/recent", [f for f in self.recent_files() if f not in (p, resolved)])

    def clear_recent(self) -> None:
        self.set("files/recent", [])
