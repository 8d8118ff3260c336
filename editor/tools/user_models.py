"""A store of user-trained models beside the shipped ones — the Retouch styles of Learn my
look and Portrait edit's facelets: the list the tool offers (shipped first, then the user's
own), read from a user data folder, and saving a new one.

A user model is two files in the store's folder: ``<name>.safetensors`` and its card
``<name>.json`` (format marker, label, sha256 of the weights, architecture and kwargs, how
it was trained). The folder is ``$<env>`` (tests, portable installs), else platformdirs'
user data folder when platformdirs is installed, else ``~/.local/share/restora/<sub>``.

The list is a snapshot taken by :meth:`UserModelStore.refresh` (saving calls it); a tool's
choice parameter holds :meth:`UserModelStore.choices`, a live read-only view of it, so a
model saved a minute ago is offered without rebuilding the tool. Bad files never break the
list: a card that cannot be read, whose weights are missing or do not match its checksum,
or whose name is taken, is left out and reported in :meth:`problems` (and logged). No Qt,
no torch until a model is saved.
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
from typing import Any, Callable, ClassVar, Iterator, Mapping

from editor.engine.registry import REGISTRY, ModelSpec

log = logging.getLogger(__name__)

#: A user model name: lower-case letters, digits, "-" and "_", starting with a letter or digit.
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")


def file_sha256(path: Path) -> str:
    # hashlib rather than the engine's sha256_file: that module imports torch, and listing
    # the tools must stay cheap.
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class UserModelEntry:
    """One item of a store's list: ``name`` (what the tool's flag takes), ``label`` (what
    the menu shows), the model ``spec`` and the ``directory`` holding its weights (None:
    the models folder). Subclasses name what the menu adds to a user's own (``MINE``)."""

    name: str
    label: str
    spec: ModelSpec
    directory: Path | None = None
    user: bool = False

    MINE: ClassVar[str] = "mine"

    @property
    def menu_label(self) -> str:
        return f"{self.label} ({self.MINE})" if self.user else self.label


def shipped_entries(entry: type, table: Sequence[tuple[str, str, str]]) -> list:
    """``entry`` items for a (name, catalog model id, label) table, in its order; listed
    whether or not the weights are installed (using a missing one gives the engine's
    clear message)."""
    return [entry(name, label, REGISTRY.get(model_id)) for name, model_id, label in table
            if model_id in REGISTRY]


def card_spec(name: str, card: Mapping[str, Any], *, architecture: str, task: str,
              id_prefix: str, licence: str, what: str) -> ModelSpec:
    """The ModelSpec of a user model from its card (ValueError when the card is bad)."""
    arch = card.get("arch_kwargs")
    if card.get("architecture") != architecture or not isinstance(arch, dict):
        raise ValueError(f"it is not {what} card")
    return ModelSpec(id=f"{id_prefix}{name}", task=task, architecture=architecture,
                     weights=f"{name}.safetensors", sha256=str(card.get("sha256", "")),
                     licence=licence, scale=1, tiling=False, tile_overlap=0,
                     arch_kwargs=arch, description=str(card.get("label", name)))


class LiveChoices(Sequence):
    """``(name, label)`` choices read from a function at every use. ``rescan`` (optional)
    re-reads their source (the user's folder): a model saved by another process — a
    ``restora-cli train-facelet`` next to the open editor — appears once it has run."""

    def __init__(self, items: Callable[[], tuple[tuple[str, str], ...]],
                 rescan: Callable[[], object] | None = None) -> None:
        self._items = items
        self._rescan = rescan

    def rescan(self) -> None:
        if self._rescan is not None:
            self._rescan()

    def __getitem__(self, index):
        return self._items()[index]

    def __len__(self) -> int:
        return len(self._items())

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._items())

    def __repr__(self) -> str:
        return f"{type(self).__name__}({list(self._items())!r})"


class UserModelStore:
    """Shipped + user models of one kind.

    ``kind``: the word messages use ("style", "facelet"); ``env`` / ``subfolder``: where
    the user's live; ``card_format``: the card's format marker; ``architecture``: what a
    user card must name; ``spec``: (name, card) -> ModelSpec; ``entry``: (name, label,
    spec, directory, user) -> the list's item (it must have ``name`` and ``menu_label``);
    ``shipped``: () -> the shipped items, first in the list; ``shipped_names``: names no
    user model may take."""

    def __init__(self, *, kind: str, env: str, subfolder: str, card_format: str,
                 architecture: str, spec: Callable[[str, Mapping[str, Any]], ModelSpec],
                 entry: Callable[..., Any], shipped: Callable[[], list],
                 shipped_names: Callable[[], set[str]], card_version: int = 1) -> None:
        self.kind, self.env, self.subfolder = kind, env, subfolder
        self.card_format, self.card_version, self.architecture = (card_format, card_version,
                                                                  architecture)
        self._spec, self._entry = spec, entry
        self._shipped, self._shipped_names = shipped, shipped_names
        self._lock = threading.Lock()
        self._items: tuple = ()
        self._problems: tuple[str, ...] = ()

    # -- the folder ---------------------------------------------------------------------------
    def folder(self) -> Path:
        override = os.environ.get(self.env)
        if override:
            return Path(override).expanduser()
        try:
            import platformdirs
        except ImportError:
            return Path.home() / ".local" / "share" / "restora" / self.subfolder
        return Path(platformdirs.user_data_dir("restora", appauthor=False)) / self.subfolder

    def read_user(self, card_path: Path, taken: set[str]):
        """A user model from its card; ValueError with the reason it cannot be used."""
        name = card_path.stem
        if not NAME_PATTERN.match(name):
            raise ValueError(f"{name!r} is not a valid {self.kind} name")
        if name in taken:
            raise ValueError(f"the name {name!r} is already taken by another {self.kind}")
        try:
            card = json.loads(card_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as error:
            raise ValueError(f"its card cannot be read ({error})") from None
        if not isinstance(card, dict) or card.get("format") != self.card_format:
            raise ValueError(f"it is not a Restora {self.kind} card")
        spec = self._spec(name, card)
        weights = card_path.with_name(spec.weights)
        if not weights.is_file():
            raise ValueError(f"its weights file {weights.name} is missing")
        if file_sha256(weights) != spec.sha256:
            raise ValueError(f"its weights file {weights.name} is damaged (checksum mismatch)")
        label = str(card.get("label") or name).strip() or name
        return self._entry(name, label, spec, card_path.parent, True)

    def scan(self, folder: Path | None = None, taken: set[str] | None = None
             ) -> tuple[list, list[str]]:
        """(usable user models sorted by name, one line per file that was skipped)."""
        folder = self.folder() if folder is None else Path(folder)
        taken = set(taken or ())
        found: list = []
        problems: list[str] = []
        if not folder.is_dir():
            return found, problems
        cards = sorted(folder.glob("*.json"))
        for card_path in cards:
            try:
                item = self.read_user(card_path, taken)
            except ValueError as why:
                problems.append(f"User {self.kind} {card_path.name} skipped: {why}.")
                continue
            except OSError as why:
                problems.append(f"User {self.kind} {card_path.name} skipped: "
                                f"{why.strerror or why}.")
                continue
            taken.add(item.name)
            found.append(item)
        orphans = sorted({p.stem for p in folder.glob("*.safetensors")}
                         - {c.stem for c in cards})
        problems += [f"User {self.kind} {stem}.safetensors skipped: it has no card "
                     f"({stem}.json)." for stem in orphans]
        return found, problems

    # -- the snapshot -------------------------------------------------------------------------
    def refresh(self) -> list[str]:
        """Re-read the shipped and user models; returns (and logs) the problems found."""
        shipped = self._shipped()
        users, problems = self.scan(taken={s.name for s in shipped})
        with self._lock:
            self._items, self._problems = tuple(shipped + users), tuple(problems)
        for line in problems:
            log.warning(line)
        return list(problems)

    def items(self) -> list:
        with self._lock:
            return list(self._items)

    def problems(self) -> list[str]:
        with self._lock:
            return list(self._problems)

    def get(self, name: str):
        for item in self.items():
            if item.name == name:
                return item
        known = ", ".join(i.name for i in self.items()) or "none"
        raise ValueError(f"unknown {self.kind} {name!r}; known {self.kind}s: {known}")

    def choices(self) -> LiveChoices:
        return LiveChoices(lambda: tuple((i.name, i.menu_label) for i in self.items()),
                           self.refresh)

    # -- saving -------------------------------------------------------------------------------
    def check_new_name(self, name: str) -> str:
        """``name`` stripped, if it can name a new user model; ValueError saying why not."""
        name = (name or "").strip()
        if not NAME_PATTERN.match(name):
            raise ValueError(f"{self.kind} name {name!r} is not allowed: use 1–40 lower-case "
                             "letters, digits, '-' or '_', starting with a letter or digit")
        if name in self._shipped_names():
            raise ValueError(f"a shipped {self.kind} is already called {name!r}; choose "
                             "another name")
        folder = self.folder()
        clash = [p.name for p in (folder / f"{name}.json", folder / f"{name}.safetensors")
                 if p.exists()]
        if clash:
            raise ValueError(f"a {self.kind} called {name!r} already exists ({', '.join(clash)}"
                             f" in {folder}); choose another name or delete it first")
        return name

    def save(self, name: str, label: str, state_dict, arch_kwargs: Mapping[str, Any],
             details: Mapping[str, Any]):
        """Write ``<name>.safetensors`` and ``<name>.json`` into the folder, refresh the
        snapshot and return the new item. Never overwrites: a name taken meanwhile raises
        ValueError and nothing is left behind."""
        from editor.engine.weights import save_weights

        name = self.check_new_name(name)
        folder = self.folder()
        folder.mkdir(parents=True, exist_ok=True)
        card_path = folder / f"{name}.json"
        weights_path = folder / f"{name}.safetensors"
        # The card is claimed first, exclusively: two trainings finishing under one name
        # cannot both win, and the loser touches nothing of the winner's.
        try:
            claim = os.open(card_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            raise ValueError(f"a {self.kind} called {name!r} was saved meanwhile; choose "
                             "another name") from None
        created = [card_path]
        try:
            os.close(claim)
            if weights_path.exists():
                raise ValueError(f"{weights_path} appeared meanwhile; choose another name")
            created.append(weights_path)
            sha = save_weights(state_dict, weights_path)
            card = {"format": self.card_format, "version": self.card_version, "name": name,
                    "label": (label or name).strip() or name,
                    "architecture": self.architecture, "arch_kwargs": dict(arch_kwargs),
                    "weights": weights_path.name, "sha256": sha,
                    "created": time.strftime("%Y-%m-%dT%H:%M:%S"), **dict(details)}
            temporary = card_path.with_name(card_path.name + ".partial")
            created.append(temporary)
            temporary.write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
            os.replace(temporary, card_path)
        except BaseException:
            # Only what this call created goes: never another model's files.
            for path in created:
                try:
                    path.unlink(missing_ok=True)
                except OSError:
                    pass
            raise
        self.refresh()
        return self.get(name)
