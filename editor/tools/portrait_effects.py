"""Portrait edit's effects: the shipped facelets (catalog models ``facelet-<name>``) and
the user's own, trained with ``restora-cli train-facelet``, in the user facelets folder.

A user facelet is two files in :func:`facelets_dir`: ``<name>.safetensors`` and its card
``<name>.json`` (label, sha256 of the weights, architecture, the sha256 of the
autoencoder it was trained on, how it was trained). The folder is
``$RESTORA_FACELETS_DIR`` (tests), else ``~/.local/share/restora/facelets`` (platformdirs'
user data folder when installed). No Qt here.

The effect parameter's choices are a live view (:class:`EffectChoices`) of this module's
snapshot, refreshed by :func:`refresh_effects` (saving a facelet calls it), so a facelet
trained a minute ago is offered without rebuilding the tool — the same design as the
Retouch styles (:mod:`editor.tools.retouch_styles`). A card that cannot be read, or whose
weights are missing or do not match their checksum, is left out of the list and reported
by :func:`problems`; the other effects are still offered.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping

from editor.engine.registry import REGISTRY, ModelSpec

log = logging.getLogger(__name__)

FACELETS_DIR_ENV = "RESTORA_FACELETS_DIR"
CARD_FORMAT = "restora-user-facelet"
CARD_VERSION = 1
AUTOENCODER_ID = "face-autoencoder"
#: (effect name, catalog model id, label), in menu order; the first is the default.
SHIPPED: tuple[tuple[str, str, str], ...] = (
    ("older", "facelet-older", "Older"),
    ("younger", "facelet-younger", "Younger"),
    ("masculine", "facelet-masculine", "More masculine"),
    ("feminine", "facelet-feminine", "More feminine"),
)
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
LICENCE_USER = "your own photos (on the shipped face autoencoder, UTKFace: non-commercial research)"


@dataclass(frozen=True)
class Effect:
    """One effect: ``name`` (what ``--effect`` takes), ``label``, the facelet's model
    ``spec`` and the ``directory`` holding its weights (None: the models folder)."""

    name: str
    label: str
    spec: ModelSpec
    directory: Path | None = None
    user: bool = False

    @property
    def menu_label(self) -> str:
        return f"{self.label} (my facelet)" if self.user else self.label


def facelets_dir() -> Path:
    override = os.environ.get(FACELETS_DIR_ENV)
    if override:
        return Path(override).expanduser()
    try:
        import platformdirs
    except ImportError:
        return Path.home() / ".local" / "share" / "restora" / "facelets"
    return Path(platformdirs.user_data_dir("restora", appauthor=False)) / "facelets"


def shipped_effects() -> list[Effect]:
    return [Effect(name, label, REGISTRY.get(model_id)) for name, model_id, label in SHIPPED
            if model_id in REGISTRY]


def user_spec(name: str, card: Mapping[str, Any]) -> ModelSpec:
    arch = card.get("arch_kwargs")
    if card.get("format") != CARD_FORMAT or card.get("architecture") != "facelet" \
            or not isinstance(arch, dict):
        raise ValueError("it is not a facelet card")
    return ModelSpec(id=f"facelet-user-{name}", task="portrait_facelet", architecture="facelet",
                     weights=f"{name}.safetensors", sha256=str(card.get("sha256", "")),
                     licence=LICENCE_USER, scale=1, tiling=False, tile_overlap=0,
                     arch_kwargs=arch, description=str(card.get("label", name)))


def file_sha256(path: Path) -> str:
    # hashlib, not the engine's sha256_file: that imports torch, listing tools must not.
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def read_user_effect(card_path: Path) -> Effect:
    """A user effect from its card; ValueError saying why it cannot be used."""
    name = card_path.stem
    if not NAME_PATTERN.match(name):
        raise ValueError("its name is not a valid effect name")
    if name in {s for s, _, _ in SHIPPED}:
        raise ValueError(f"a shipped effect is already called {name!r}")
    try:
        card = json.loads(card_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ValueError(f"its card cannot be read ({error})") from None
    if not isinstance(card, dict):
        raise ValueError("its card is not a JSON object")
    spec = user_spec(name, card)
    weights = card_path.with_suffix(".safetensors")
    if not weights.is_file():
        raise ValueError(f"its weights file {weights.name} is missing")
    if file_sha256(weights) != spec.sha256:
        raise ValueError(f"its weights file {weights.name} is damaged (checksum differs)")
    return Effect(name, str(card.get("label") or name), spec, card_path.parent, user=True)


def scan_user_effects(folder: Path | None = None) -> tuple[list[Effect], list[str]]:
    """(usable user effects sorted by name, one line per card left out)."""
    folder = facelets_dir() if folder is None else Path(folder)
    found, bad = [], []
    if folder.is_dir():
        for card_path in sorted(folder.glob("*.json")):
            try:
                found.append(read_user_effect(card_path))
            except ValueError as error:
                bad.append(f"user facelet {card_path.name} left out: {error}")
                log.warning(bad[-1])
    return found, bad


_lock = threading.Lock()
_snapshot: tuple[list[Effect], list[str]] = ([], [])


def refresh_effects() -> list[str]:
    """Re-read the shipped and user effects; returns the effect names."""
    global _snapshot
    users, bad = scan_user_effects()
    with _lock:
        _snapshot = (shipped_effects() + users, bad)
    return [e.name for e in _snapshot[0]]


def effects() -> list[Effect]:
    with _lock:
        return list(_snapshot[0])


def problems() -> list[str]:
    with _lock:
        return list(_snapshot[1])


def get_effect(name: str) -> Effect:
    for effect in effects():
        if effect.name == name:
            return effect
    known = ", ".join(e.name for e in effects()) or "none"
    raise ValueError(f"unknown effect {name!r}; known effects: {known}")


class EffectChoices(Sequence):
    """The effect parameter's live ``(name, label)`` choices."""

    def _items(self) -> tuple[tuple[str, str], ...]:
        return tuple((e.name, e.menu_label) for e in effects())

    def __getitem__(self, index):
        return self._items()[index]

    def __len__(self) -> int:
        return len(self._items())

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._items())

    def __repr__(self) -> str:
        return f"EffectChoices({list(self._items())!r})"


def check_new_name(name: str) -> str:
    name = (name or "").strip()
    if not NAME_PATTERN.match(name):
        raise ValueError(f"facelet name {name!r} is not allowed: use 1–40 lower-case letters, "
                         "digits, '-' or '_', starting with a letter or digit")
    if name in {s for s, _, _ in SHIPPED}:
        raise ValueError(f"a shipped effect is already called {name!r}; choose another name")
    folder = facelets_dir()
    taken = [p.name for p in (folder / f"{name}.json", folder / f"{name}.safetensors")
             if p.exists()]
    if taken:
        raise ValueError(f"a facelet called {name!r} already exists ({', '.join(taken)} in "
                         f"{folder}); choose another name or delete it first")
    return name


def save_user_facelet(name: str, label: str, state_dict, arch_kwargs: Mapping[str, Any],
                      details: Mapping[str, Any]) -> Effect:
    """Write ``<name>.safetensors`` and its card into :func:`facelets_dir`, refresh the
    list and return the new effect. Never overwrites; on failure nothing is left."""
    from editor.engine.weights import save_weights

    name = check_new_name(name)
    folder = facelets_dir()
    folder.mkdir(parents=True, exist_ok=True)
    card_path, weights_path = folder / f"{name}.json", folder / f"{name}.safetensors"
    try:
        os.close(os.open(card_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
    except FileExistsError:
        raise ValueError(f"a facelet called {name!r} was saved meanwhile") from None
    created = [card_path, weights_path]
    try:
        sha = save_weights(state_dict, weights_path)
        card = {"format": CARD_FORMAT, "version": CARD_VERSION, "name": name,
                "label": (label or name).strip() or name, "architecture": "facelet",
                "arch_kwargs": dict(arch_kwargs), "weights": weights_path.name, "sha256": sha,
                "size_bytes": weights_path.stat().st_size,
                "created": time.strftime("%Y-%m-%dT%H:%M:%S"), **dict(details)}
        temporary = card_path.with_name(card_path.name + ".partial")
        created.append(temporary)
        temporary.write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
        os.replace(temporary, card_path)
    except BaseException:
        for path in created:
            try:
                path.unlink(missing_ok=True)
            except OSError:
                pass
        raise
    refresh_effects()
    return get_effect(name)


refresh_effects()
