"""Layers panel: the stack top-first with eye, thumbnail, name and mask, plus opacity,
blend mode and mask controls for the active layer.

Every change the user makes here is a History command (undoable). Model -> view updates
run under QSignalBlocker so refreshing a widget never echoes back as a new command.
"""

from __future__ import annotations

from PySide6.QtCore import QSignalBlocker, QSize, Qt, QTimer
from PySide6.QtGui import QAction, QIcon
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QComboBox, QHBoxLayout,
                               QHeaderView, QLabel, QSlider, QSpinBox, QToolButton,
                               QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget)

from editor.core.blend import BLEND_LABELS, BLEND_MODES
from editor.core.history import SetLayerProperty
from editor.qt.icons import icon
from editor.qt.qt_document import QtDocument
from editor.qt.thumbnails import layer_thumbnail, mask_thumbnail

COL_EYE, COL_NAME, COL_MASK = 0, 1, 2
_ID_ROLE = Qt.ItemDataRole.UserRole
THUMB = 36


class LayersPanel(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._qdoc: QtDocument | None = None
        self._dirty_thumbs: set[int] = set()

        self.tree = QTreeWidget()
        self.tree.setColumnCount(3)
        self.tree.setHeaderHidden(True)
        self.tree.setRootIsDecorated(False)
        self.tree.setIconSize(QSize(THUMB, THUMB))
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.tree.setEditTriggers(QAbstractItemView.EditTrigger.DoubleClicked
                                  | QAbstractItemView.EditTrigger.EditKeyPressed)
        header = self.tree.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(COL_EYE, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(COL_NAME, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(COL_MASK, QHeaderView.ResizeMode.ResizeToContents)
        self.tree.setToolTip("Layers, top first. Click the eye to show/hide, "
                             "double-click a name to rename, click a mask to turn it on/off")

        self.opacity_slider = QSlider(Qt.Orientation.Horizontal)
        self.opacity_slider.setRange(0, 100)
        self.opacity_slider.setToolTip("Opacity of the active layer")
        self.opacity_spin = QSpinBox()
        self.opacity_spin.setRange(0, 100)
        self.opacity_spin.setSuffix(" %")
        self.opacity_spin.setKeyboardTracking(False)  # one undo step per entered value
        self.opacity_spin.setToolTip("Opacity of the active layer")
        self.blend_combo = QComboBox()
        for mode in BLEND_MODES:
            self.blend_combo.addItem(BLEND_LABELS.get(mode, mode), mode)
        self.blend_combo.setToolTip("How the active layer mixes with the layers below")
        self.mask_check = QCheckBox("Mask")
        self.mask_check.setToolTip("Turn the active layer's mask on or off")

        row1 = QHBoxLayout()
        row1.addWidget(self.blend_combo, 1)
        row1.addWidget(self.mask_check)
        row2 = QHBoxLayout()
        row2.addWidget(QLabel("Opacity"))
        row2.addWidget(self.opacity_slider, 1)
        row2.addWidget(self.opacity_spin)
        self.buttons = QHBoxLayout()
        self.buttons.setSpacing(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(row1)
        layout.addLayout(row2)
        layout.addWidget(self.tree, 1)
        layout.addLayout(self.buttons)

        self._thumb_timer = QTimer(self)
        self._thumb_timer.setSingleShot(True)
        self._thumb_timer.setInterval(150)  # paint strokes arrive per dab; batch them
        self._thumb_timer.timeout.connect(self._refresh_dirty_thumbnails)

        self.tree.currentItemChanged.connect(self._on_current_item_changed)
        self.tree.itemClicked.connect(self._on_item_clicked)
        self.tree.itemChanged.connect(self._on_item_changed)
        self.opacity_slider.valueChanged.connect(self._on_opacity_slider)
        self.opacity_slider.sliderReleased.connect(self._on_opacity_released)
        self.opacity_spin.valueChanged.connect(self._on_opacity_spin)
        self.blend_combo.currentIndexChanged.connect(self._on_blend_changed)
        self.mask_check.toggled.connect(self._on_mask_toggled)
        self._sync_all()

    def set_button_actions(self, actions: list[QAction | None]) -> None:
        """Buttons under the list share the Layer menu's actions (None = a gap)."""
        for action in actions:
            if action is None:
                self.buttons.addSpacing(6)
                continue
            b = QToolButton()
            b.setDefaultAction(action)
            b.setAutoRaise(True)
            self.buttons.addWidget(b)
        self.buttons.addStretch(1)

    # -- document binding -----------------------------------------------------------------
    def set_document(self, qdoc: QtDocument | None) -> None:
        if self._qdoc is not None:
            for sig, slot in self._connections():
                sig.disconnect(slot)
        self._qdoc = qdoc
        if qdoc is not None:
            for sig, slot in self._connections():
                sig.connect(slot)
        self._sync_all()

    def _connections(self):
        q = self._qdoc
        return ((q.structureChanged, self._on_structure), (q.propertyChanged, self._on_property),
                (q.pixelsChanged, self._on_pixels), (q.activeChanged, self._on_active))

    def _active_id(self) -> int | None:
        if self._qdoc is None or self._qdoc.doc.active_layer is None:
            return None
        return self._qdoc.doc.active_layer.id

    def item_for(self, layer_id: int) -> QTreeWidgetItem | None:
        for i in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(i)
            if item.data(COL_NAME, _ID_ROLE) == layer_id:
                return item
        return None

    def layer_ids(self) -> list[int]:
        """Layer ids as listed (top first)."""
        return [self.tree.topLevelItem(i).data(COL_NAME, _ID_ROLE)
                for i in range(self.tree.topLevelItemCount())]

    # -- model -> view ----------------------------------------------------------------------
    def _sync_all(self) -> None:
        self._rebuild_list()
        self._sync_controls()

    def _rebuild_list(self) -> None:
        with QSignalBlocker(self.tree):
            self.tree.clear()
            if self._qdoc is None:
                return
            for layer in reversed(self._qdoc.doc.layers):
                item = QTreeWidgetItem()
                item.setData(COL_NAME, _ID_ROLE, layer.id)
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsEditable)
                self._fill_item(item, layer, thumbs=True)
                self.tree.addTopLevelItem(item)
            current = self.item_for(self._active_id()) if self._active_id() else None
            if current is not None:
                self.tree.setCurrentItem(current)

    def _fill_item(self, item: QTreeWidgetItem, layer, thumbs: bool = False) -> None:
        item.setIcon(COL_EYE, icon("mdi6.eye" if layer.visible else "mdi6.eye-off-outline"))
        item.setToolTip(COL_EYE, "Hide layer" if layer.visible else "Show layer")
        item.setText(COL_NAME, layer.name)
        item.setToolTip(COL_NAME, f"{layer.name} — {BLEND_LABELS.get(layer.blend_mode, '')}, "
                                  f"{round(layer.opacity * 100)} %")
        if thumbs:
            item.setIcon(COL_NAME, layer_thumbnail(layer.pixels, THUMB))
            item.setIcon(COL_MASK, QIcon() if layer.mask is None
                         else mask_thumbnail(layer.mask, THUMB, enabled=layer.mask_enabled))
        if layer.mask is None:
            item.setToolTip(COL_MASK, "")
        else:
            item.setToolTip(COL_MASK, "Layer mask (on) — click to turn off" if layer.mask_enabled
                            else "Layer mask (off) — click to turn on")

    def _sync_controls(self) -> None:
        layer = self._qdoc.doc.active_layer if self._qdoc else None
        widgets = (self.opacity_slider, self.opacity_spin, self.blend_combo, self.mask_check)
        for w in widgets:
            w.setEnabled(layer is not None)
        if layer is None:
            return
        with QSignalBlocker(self.opacity_slider), QSignalBlocker(self.opacity_spin), \
                QSignalBlocker(self.blend_combo), QSignalBlocker(self.mask_check):
            # The slider is not touched mid-drag: its own position is the truth there.
            if not self.opacity_slider.isSliderDown():
                self.opacity_slider.setValue(round(layer.opacity * 100))
            self.opacity_spin.setValue(round(layer.opacity * 100))
            self.blend_combo.setCurrentIndex(max(0, self.blend_combo.findData(layer.blend_mode)))
            self.mask_check.setChecked(layer.mask is not None and layer.mask_enabled)
            self.mask_check.setEnabled(layer.mask is not None)

    def _on_structure(self, _layer_id) -> None:
        self._sync_all()

    def _on_property(self, layer_id: int, prop: str) -> None:
        item = self.item_for(layer_id)
        if item is not None:
            with QSignalBlocker(self.tree):
                # The mask thumbnail carries the on/off cross, so it is redrawn for that flag.
                self._fill_item(item, self._qdoc.doc.layer(layer_id),
                                thumbs=prop == "mask_enabled")
        if layer_id == self._active_id():
            self._sync_controls()

    def _on_pixels(self, layer_id: int, _bbox, target: str) -> None:
        self._dirty_thumbs.add(layer_id)
        if not self._thumb_timer.isActive():
            self._thumb_timer.start()
        if target == "mask" and layer_id == self._active_id():
            self._sync_controls()  # a mask was added/removed: enable the checkbox

    def _refresh_dirty_thumbnails(self) -> None:
        if self._qdoc is None:
            return
        ids, self._dirty_thumbs = self._dirty_thumbs, set()
        with QSignalBlocker(self.tree):
            for layer_id in ids:
                item = self.item_for(layer_id)
                if item is not None:
                    self._fill_item(item, self._qdoc.doc.layer(layer_id), thumbs=True)

    def _on_active(self, layer_id) -> None:
        with QSignalBlocker(self.tree):
            item = self.item_for(layer_id) if layer_id is not None else None
            if item is not None:
                self.tree.setCurrentItem(item)
        self._sync_controls()

    # -- view -> model ----------------------------------------------------------------------
    def _push(self, layer_id: int, prop: str, value, mergeable: bool = False) -> None:
        self._qdoc.push(SetLayerProperty(layer_id, prop, value, mergeable=mergeable))

    def _on_current_item_changed(self, current: QTreeWidgetItem | None, _previous) -> None:
        # Choosing the active layer is navigation, not an edit: no history step.
        if self._qdoc is not None and current is not None:
            self._qdoc.doc.set_active(current.data(COL_NAME, _ID_ROLE))

    def _on_item_clicked(self, item: QTreeWidgetItem, column: int) -> None:
        if self._qdoc is None:
            return
        layer = self._qdoc.doc.layer(item.data(COL_NAME, _ID_ROLE))
        if column == COL_EYE:
            self._push(layer.id, "visible", not layer.visible)
        elif column == COL_MASK and layer.mask is not None:
            self._push(layer.id, "mask_enabled", not layer.mask_enabled)

    def _on_item_changed(self, item: QTreeWidgetItem, column: int) -> None:
        if self._qdoc is None or column != COL_NAME:
            return
        layer = self._qdoc.doc.layer(item.data(COL_NAME, _ID_ROLE))
        name = item.text(COL_NAME).strip()
        if not name or name == layer.name:
            with QSignalBlocker(self.tree):
                item.setText(COL_NAME, layer.name)  # an empty name is refused, not applied
            return
        self._push(layer.id, "name", name)

    def _on_opacity_slider(self, value: int) -> None:
        layer_id = self._active_id()
        if layer_id is None:
            return
        with QSignalBlocker(self.opacity_spin):
            self.opacity_spin.setValue(value)
        dragging = self.opacity_slider.isSliderDown()
        # A drag pushes mergeable commands that fold into one undo step until release;
        # a keyboard/wheel step is a step of its own.
        self._push(layer_id, "opacity", value / 100.0, mergeable=dragging)
        if not dragging:
            self._qdoc.history.end_merge()

    def _on_opacity_released(self) -> None:
        if self._qdoc is not None:
            self._qdoc.history.end_merge()

    def _on_opacity_spin(self, value: int) -> None:
        layer_id = self._active_id()
        if layer_id is None:
            return
        with QSignalBlocker(self.opacity_slider):
            self.opacity_slider.setValue(value)
        self._push(layer_id, "opacity", value / 100.0)

    def _on_blend_changed(self, _index: int) -> None:
        layer_id = self._active_id()
        if layer_id is not None:
            self._push(layer_id, "blend_mode", self.blend_combo.currentData())

    def _on_mask_toggled(self, on: bool) -> None:
        layer = self._qdoc.doc.active_layer if self._qdoc else None
        if layer is not None and layer.mask is not None and layer.mask_enabled != on:
            self._push(layer.id, "mask_enabled", on)
