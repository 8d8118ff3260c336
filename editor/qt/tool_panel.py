"""Tool panel, generated from each Tool's parameter schema (never hand-written per tool).

float/int -> slider + numeric entry kept in sync; bool -> checkbox; choice -> combo box;
path -> file name with Browse (editor.qt.tool_extras). A tool with an int ``seed`` gets
"Sample again" and "Variants…" (editor.qt.variant_strip) buttons.
Tooltips come from ``Param.help``. Last values are remembered per tool in the settings.
"""

from __future__ import annotations

from PySide6.QtCore import QSignalBlocker, Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout,
                               QHBoxLayout, QLabel, QPushButton, QSlider, QSpinBox,
                               QStackedWidget, QVBoxLayout, QWidget)

from editor.qt.icons import icon
from editor.qt.settings import Settings
from editor.qt.tool_extras import PathEditor, button_row, sample_again_button
from editor.qt.variant_strip import variants_button
from editor.tools.schema import Param, Tool
from editor.tools.user_models import LiveChoices

#: Finest slider resolution; beyond this the slider is a coarse control and the numeric
#: entry gives the exact value.
MAX_SLIDER_STEPS = 10_000


def has_canvas_preview(tool: Tool) -> bool:
    """Whether the canvas can preview ``tool``. A size-changing tool is previewed only
    when it is model-backed ("reduced"): its result, drawn over the visible region at
    screen resolution, shows the detail a network will add, which is worth judging
    before a slow Apply; a plain resampler's result looks like the canvas's own zoom."""
    return not tool.changes_size or tool.preview == "reduced"


class NumberEditor(QWidget):
    """A slider and a spin box showing one numeric parameter; either drives the other."""

    valueChanged = Signal(object)

    def __init__(self, param: Param, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.param = param
        lo, hi = param.range
        self.is_int = param.kind is int
        self.slider = QSlider(Qt.Orientation.Horizontal)
        if self.is_int:
            self._step = 1.0
            self.slider.setRange(int(lo), int(hi))
            self.spin = QSpinBox()
            self.spin.setRange(int(lo), int(hi))
            self.spin.setSingleStep(max(1, int(param.step or 1)))
        else:
            step = float(param.step or 10.0 ** -param.decimals)
            # Cap the slider's resolution; the spin box still takes any value.
            self._step = max(step, (hi - lo) / MAX_SLIDER_STEPS)
            self.slider.setRange(0, round((hi - lo) / self._step))
            self.spin = QDoubleSpinBox()
            self.spin.setDecimals(param.decimals)
            self.spin.setRange(lo, hi)
            self.spin.setSingleStep(step)
        self.slider.setSingleStep(1)
        self.slider.setPageStep(max(1, self.slider.maximum() // 10))
        if param.suffix:
            self.spin.setSuffix(param.suffix)
        # Typing "1.5" must not fire previews for "1" and "1." on the way.
        self.spin.setKeyboardTracking(False)
        self.spin.setMinimumWidth(80)
        for w in (self.slider, self.spin):
            w.setToolTip(param.help)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.slider, 1)
        layout.addWidget(self.spin)
        self.slider.valueChanged.connect(self._on_slider)
        self.spin.valueChanged.connect(self._on_spin)

    def _to_slider(self, value: float) -> int:
        if self.is_int:
            return int(value)
        return round((float(value) - self.param.range[0]) / self._step)

    def _from_slider(self, pos: int):
        if self.is_int:
            return int(pos)
        v = self.param.range[0] + pos * self._step
        return round(min(max(v, self.param.range[0]), self.param.range[1]), self.param.decimals)

    def value(self):
        return int(self.spin.value()) if self.is_int else float(self.spin.value())

    def set_value(self, value) -> None:
        """Show ``value`` without emitting (the caller announces the change)."""
        with QSignalBlocker(self.spin), QSignalBlocker(self.slider):
            self.spin.setValue(value)
            self.slider.setValue(self._to_slider(value))

    def _on_slider(self, pos: int) -> None:
        with QSignalBlocker(self.spin):
            self.spin.setValue(self._from_slider(pos))
        self.valueChanged.emit(self.value())

    def _on_spin(self, value) -> None:
        with QSignalBlocker(self.slider):
            self.slider.setValue(self._to_slider(value))
        self.valueChanged.emit(self.value())


class ToolPage(QWidget):
    """The generated form for one tool."""

    valuesChanged = Signal()

    def __init__(self, tool: Tool, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.tool = tool
        self.editors: dict[str, QWidget] = {}
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        if tool.help:
            intro = QLabel(tool.help)
            intro.setWordWrap(True)
            form.addRow(intro)
        for p in tool.params:
            editor = self._make_editor(p)
            self.editors[p.name] = editor
            label = QLabel(p.display_label + ":")
            label.setToolTip(p.help)
            form.addRow(label, editor)
        self.sample_again = sample_again_button(self)
        self.variants_button = variants_button(self)
        if self.sample_again is not None:
            form.addRow(button_row(self.sample_again, self.variants_button))

    def _make_editor(self, p: Param) -> QWidget:
        if p.kind in (float, int):
            editor = NumberEditor(p)
            editor.valueChanged.connect(self.valuesChanged)
        elif p.kind is bool:
            editor = QCheckBox()
            editor.toggled.connect(self.valuesChanged)
        elif p.kind == "path":
            editor = PathEditor(p)
            editor.valueChanged.connect(self.valuesChanged)
        else:
            editor = QComboBox()
            for value, label in p.choices:
                editor.addItem(label, value)
            editor.currentIndexChanged.connect(self.valuesChanged)
        editor.setToolTip(p.help)
        return editor

    def refresh_choices(self) -> None:
        """Re-read every live choice list (user styles, facelets) and refill its combo box
        when the list changed, keeping the current choice (still there) without emitting
        valuesChanged."""
        for p in self.tool.params:
            combo = self.editors.get(p.name)
            if not isinstance(p.choices, LiveChoices) or not isinstance(combo, QComboBox):
                continue
            p.choices.rescan()
            wanted = list(p.choices)
            shown = [(combo.itemData(i), combo.itemText(i)) for i in range(combo.count())]
            if wanted == shown:
                continue
            current = combo.currentData()
            with QSignalBlocker(combo):
                combo.clear()
                for value, label in wanted:
                    combo.addItem(label, value)
                combo.setCurrentIndex(max(0, combo.findData(current)))

    def values(self) -> dict:
        out = {}
        for p in self.tool.params:
            e = self.editors[p.name]
            if isinstance(e, (NumberEditor, PathEditor)):
                out[p.name] = e.value()
            elif isinstance(e, QCheckBox):
                out[p.name] = e.isChecked()
            else:
                out[p.name] = e.currentData()
        return out

    def set_values(self, values: dict) -> None:
        """Show ``values`` (validated; unknown or invalid ones are ignored) and emit
        valuesChanged once, not once per widget."""
        for p in self.tool.params:
            if p.name not in values:
                continue
            try:
                v = p.validate(values[p.name])
            except ValueError:
                continue
            e = self.editors[p.name]
            if isinstance(e, (NumberEditor, PathEditor)):
                e.set_value(v)
            elif isinstance(e, QCheckBox):
                with QSignalBlocker(e):
                    e.setChecked(v)
            else:
                with QSignalBlocker(e):
                    e.setCurrentIndex(max(0, e.findData(v)))
        self.valuesChanged.emit()


class ToolPanel(QWidget):
    #: The shown tool changed (tool id).
    toolChanged = Signal(str)
    #: A parameter of the shown tool changed.
    valuesChanged = Signal()
    applyRequested = Signal()
    previewToggled = Signal(bool)

    def __init__(self, tools: dict[str, Tool], settings: Settings | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._tools = dict(tools)
        self._settings = settings
        self._pages: dict[str, ToolPage] = {}

        self.tool_combo = QComboBox()
        for tool in self._tools.values():
            self.tool_combo.addItem(icon(tool.icon), tool.label, tool.id)
        self.tool_combo.setToolTip("Tool to preview and apply to the active layer")
        self.stack = QStackedWidget()
        self.info_label = QLabel("")
        self.info_label.setWordWrap(True)
        self.preview_check = QCheckBox("Preview")
        self.preview_check.setToolTip("Show the effect on the canvas while you adjust (Esc hides it)")
        self.reset_button = QPushButton(icon("mdi6.restore"), "Reset")
        self.reset_button.setToolTip("Restore this tool's default settings")
        self.apply_button = QPushButton(icon("mdi6.check"), "Apply")
        self.apply_button.setToolTip("Apply to the active layer as a new layer (Ctrl+Return)")

        buttons = QHBoxLayout()
        buttons.addWidget(self.preview_check)
        buttons.addStretch(1)
        buttons.addWidget(self.reset_button)
        buttons.addWidget(self.apply_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.tool_combo)
        layout.addWidget(self.stack)
        layout.addWidget(self.info_label)
        layout.addLayout(buttons)
        layout.addStretch(1)

        # Return inside the panel applies, as OK does in Photoshop's filter dialogs.
        for key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            sc = QShortcut(QKeySequence(key), self)
            sc.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            sc.activated.connect(self._request_apply)

        self.tool_combo.currentIndexChanged.connect(self._on_combo)
        self.reset_button.clicked.connect(self.reset)
        self.apply_button.clicked.connect(self._request_apply)
        self.preview_check.toggled.connect(self._on_preview_toggled)

        preview_on = settings.get("tools/preview") if settings else True
        with QSignalBlocker(self.preview_check):
            self.preview_check.setChecked(preview_on)
        start = settings.get("tools/current") if settings else ""
        if start not in self._tools and self._tools:
            start = next(iter(self._tools))
        if start:
            self.set_tool(start)

    # -- API ------------------------------------------------------------------------------
    def tool(self) -> Tool | None:
        tool_id = self.tool_combo.currentData()
        return self._tools.get(tool_id) if tool_id else None

    def page(self, tool_id: str | None = None) -> ToolPage:
        tool_id = tool_id or self.tool_combo.currentData()
        if tool_id not in self._pages:
            tool = self._tools[tool_id]
            page = ToolPage(tool)
            if self._settings is not None:
                page.set_values(self._settings.tool_values(tool))
            page.valuesChanged.connect(lambda tid=tool_id: self._on_values_changed(tid))
            self._pages[tool_id] = page
            self.stack.addWidget(page)
        return self._pages[tool_id]

    def editor(self, name: str) -> QWidget:
        """The widget editing parameter ``name`` of the shown tool (NumberEditor, QCheckBox
        or QComboBox)."""
        return self.page().editors[name]

    def set_tool(self, tool_id: str) -> None:
        if tool_id not in self._tools:
            raise ValueError(f"unknown tool {tool_id!r}")
        index = self.tool_combo.findData(tool_id)
        if index != self.tool_combo.currentIndex():
            self.tool_combo.setCurrentIndex(index)  # -> _on_combo
        else:
            self._show_page()

    def values(self) -> dict:
        return self.page().values() if self.tool() else {}

    def set_values(self, values: dict) -> None:
        self.page().set_values(values)

    def reset(self) -> None:
        tool = self.tool()
        if tool is not None:
            self.page().set_values(tool.defaults())

    def preview_enabled(self) -> bool:
        return self.preview_check.isChecked()

    def set_preview_enabled(self, on: bool) -> None:
        self.preview_check.setChecked(on)

    def set_info(self, text: str) -> None:
        self.info_label.setText(text)
        self.info_label.setVisible(bool(text))

    def set_apply_enabled(self, on: bool) -> None:
        self.apply_button.setEnabled(on)

    # -- internals ----------------------------------------------------------------------------
    def _show_page(self) -> None:
        tool = self.tool()
        if tool is None:
            return
        page = self.page(tool.id)
        # A style or facelet saved since the page was built (Learn my look, the CLI).
        page.refresh_choices()
        self.stack.setCurrentWidget(page)
        self.preview_check.setEnabled(has_canvas_preview(tool))
        self.set_info("")
        if self._settings is not None:
            self._settings.set("tools/current", tool.id)
        self.toolChanged.emit(tool.id)

    def _on_combo(self, _index: int) -> None:
        self._show_page()

    def _on_values_changed(self, tool_id: str) -> None:
        tool = self.tool()
        if tool is None or tool.id != tool_id:
            return  # a page not on show (being built or restored) changed
        if self._settings is not None:
            self._settings.set_tool_values(tool, self.values())
        self.valuesChanged.emit()

    def _on_preview_toggled(self, on: bool) -> None:
        if self._settings is not None:
            self._settings.set("tools/preview", on)
        self.previewToggled.emit(on)

    def _request_apply(self) -> None:
        if self.apply_button.isEnabled():
            self.applyRequested.emit()
