"""The Retouch tool's styles: the shipped ones (models in the catalog) and the user's own,
made with Learn my look, in the user data folder.

A style is a whole trained LPTN (:mod:`editor.nets.lptn`). Shipped styles are catalog
models (``retouch-<name>``, weights in models/). A user style is two files in
:func:`styles_dir`: ``<name>.safetensors`` and the card ``<name>.json`` (label, sha256 of
the weights, architecture, how it was trained). The folder is ``$RESTORA_STYLES_DIR``
(tests), else platformdirs' user data folder when platformdirs is installed, else
``~/.local/share/restora/styles``. No Qt here.

How the style list reaches the tool's schema. ``Param`` is a frozen dataclass whose choices
are normally a fixed tuple, but the set of styles changes while the editor runs (a style
learnt a minute ago must be offered now). Rebuilding the Retouch ``Tool`` on every change
would leave stale copies with every holder: the GUI keeps its own dict of tools and builds
each panel page once, the CLI builds its parser from the registry. So instead the style
parameter's ``choices`` is a :class:`StyleChoices`: a read-only sequence of ``(name,
label)`` pairs that reads this module's snapshot of the styles. The snapshot is taken when
the module loads and again by :func:`refresh_styles`, which saving a style calls (and the
GUI after Learn my look, to refill the combo box it filled once). Validation, ``--help``,
``restora-cli list`` and new panel pages all see the current list; nothing is rebuilt.

Bad files never break the list: a card that cannot be read, whose weights are missing or
do not match its checksum, or whose name clashes with another style, is left out and
reported in :func:`problems` (and logged); the other styles are still offered.
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

#: Environment variable naming the user styles folder (tests, portable installs).
STYLES_DIR_ENV = "RESTORA_STYLES_DIR"
#: Card format marker and version of user styles.
CARD_FORMAT = "restora-user-style"
CARD_VERSION = 1
#: Shipped styles: (style name, catalog model id, label), in menu order. The first is the
#: tool's default.
SHIPPED: tuple[tuple[str, str, str], ...] = (
    ("expert-c", "retouch-expert-c", "Auto retouch (Expert C)"),
    ("base", "retouch-base", "Auto correct (neutral)"),
)
#: A style name: lower-case letters, digits, "-" and "_", starting with a letter or digit.
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
LICENCE_USER = "your own before/after photos (on top of the shipped pre-trained weights)"


@dataclass(frozen=True)
class Style:
    """One style: ``name`` (what ``--style`` takes), ``label`` (what the menu shows), the
    model ``spec`` and the ``directory`` holding its weights (None: the models folder)."""

    name: str
    label: str
    spec: ModelSpec
    directory: Path | None = None
    user: bool = False

    @property
    def menu_label(self) -> str:
        return f"{self.label} (my style)" if self.user else self.label


def styles_dir() -> Path:
    """Where user styles live (see the module docstring); not created here."""
    override = os.environ.get(STYLES_DIR_ENV)
    if override:
        return Path(override).expanduser()
    try:
        import platformdirs
    except ImportError:
        return Path.home() / ".local" / "share" / "restora" / "styles"
    return Path(platformdirs.user_data_dir("restora", appauthor=False)) / "styles"


def shipped_styles() -> list[Style]:
    """Every shipped style registered in the catalog (listed whether or not its weights
    are installed: using a missing one gives the engine's clear message)."""
    return [Style(name, label, REGISTRY.get(model_id)) for name, model_id, label in SHIPPED
            if model_id in REGISTRY]


def user_spec(name: str, card: Mapping[str, Any]) -> ModelSpec:
    """The ModelSpec of a user style from its card (ValueError when the card is bad)."""
    arch = card.get("arch_kwargs")
    if card.get("architecture") != "lptn" or not isinstance(arch, dict):
        raise ValueError("it is not an LPTN style card")
    return ModelSpec(id=f"retouch-user-{name}", task="retouch", architecture="lptn",
                     weights=f"{name}.safetensors", sha256=str(card.get("sha256", "")),
                     licence=LICENCE_USER, scale=1, tiling=False, tile_overlap=0,
                     arch_kwargs=arch, description=str(card.get("label", name)))


def _sha256(path: Path) -> str:
    # hashlib rather than the engine's sha256_file: that module imports torch, and listing
    # the tools must stay cheap.
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _read_user_style(card_path: Path, taken: set[str]) -> Style:
    """A user style from its card; ValueError with the reason it cannot be used."""
    name = card_path.stem
    if not NAME_PATTERN.match(name):
        raise ValueError(f"{name!r} is not a valid style name")
    if name in taken:
        raise ValueError(f"the name {name!r} is already taken by another style")
    try:
        card = json.loads(card_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise ValueError(f"its card cannot be read ({error})") from None
    if not isinstance(card, dict) or card.get("format") != CARD_FORMAT:
        raise ValueError("it is not a Restora style card")
    spec = user_spec(name, card)
    weights = card_path.with_name(spec.weights)
    if not weights.is_file():
        raise ValueError(f"its weights file {weights.name} is missing")
    if _sha256(weights) != spec.sha256:
        raise ValueError(f"its weights file {weights.name} is damaged (checksum mismatch)")
    label = str(card.get("label") or name).strip() or name
    return Style(name, label, spec, card_path.parent, user=True)


def scan_user_styles(folder: Path | None = None, taken: set[str] | None = None
                     ) -> tuple[list[Style], list[str]]:
    """(usable user styles sorted by name, one line per file that was skipped)."""
    folder = styles_dir() if folder is None else Path(folder)
    taken = set(taken or ())
    styles: list[Style] = []
    problems: list[str] = []
    if not folder.is_dir():
        return styles, problems
    cards = sorted(folder.glob("*.json"))
    for card_path in cards:
        try:
            style = _read_user_style(card_path, taken)
        except ValueError as why:
            problems.append(f"User style {card_path.name} skipped: {why}.")
            continue
        except OSError as why:
            problems.append(f"User style {card_path.name} skipped: {why.strerror or why}.")
            continue
        taken.add(style.name)
        styles.append(style)
    orphans = sorted({p.stem for p in folder.glob("*.safetensors")}
                     - {c.stem for c in cards})
    problems += [f"User style {stem}.safetensors skipped: it has no card ({stem}.json)."
                 for stem in orphans]
    return styles, problems


# -- the snapshot ----------------------------------------------------------------------------

_lock = threading.Lock()
_styles: tuple[Style, ...] = ()
_problems: tuple[str, ...] = ()


def refresh_styles() -> list[str]:
    """Re-read the shipped and user styles; returns (and logs) the problems found."""
    global _styles, _problems
    shipped = shipped_styles()
    users, problems = scan_user_styles(taken={s.name for s in shipped})
    with _lock:
        _styles, _problems = tuple(shipped + users), tuple(problems)
    for line in problems:
        log.warning(line)
    return list(problems)


def styles() -> list[Style]:
    """The styles as of the last :func:`refresh_styles`, shipped first."""
    with _lock:
        return list(_styles)


def problems() -> list[str]:
    """The skipped user style files of the last :func:`refresh_styles`."""
    with _lock:
        return list(_problems)


def get_style(name: str) -> Style:
    for style in styles():
        if style.name == name:
            return style
    known = ", ".join(s.name for s in styles()) or "none"
    raise ValueError(f"unknown style {name!r}; known styles: {known}")


class StyleChoices(Sequence):
    """The style parameter's ``(name, label)`` choices: a live, read-only view of the
    snapshot (see the module docstring for why)."""

    def _items(self) -> tuple[tuple[str, str], ...]:
        return tuple((s.name, s.menu_label) for s in styles())

    def __getitem__(self, index):
        return self._items()[index]

    def __len__(self) -> int:
        return len(self._items())

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._items())

    def __repr__(self) -> str:
        return f"StyleChoices({list(self._items())!r})"


# -- saving a user style ------------------------------------------------------------------------

def check_new_name(name: str) -> str:
    """``name`` stripped, if it can name a new style; ValueError saying why not."""
    name = (name or "").strip()
    if not NAME_PATTERN.match(name):
        raise ValueError(f"style name {name!r} is not allowed: use 1–40 lower-case letters, "
                         "digits, '-' or '_', starting with a letter or digit")
    if name in {s for s, _, _ in SHIPPED}:
        raise ValueError(f"a shipped style is already called {name!r}; choose another name")
    folder = styles_dir()
    clash = [p.name for p in (folder / f"{name}.json", folder / f"{name}.safetensors")
             if p.exists()]
    if clash:
        raise ValueError(f"a style called {name!r} already exists ({', '.join(clash)} in "
                         f"{folder}); choose another name or delete it first")
    return name


def save_user_style(name: str, label: str, state_dict, arch_kwargs: Mapping[str, Any],
                    details: Mapping[str, Any]) -> Style:
    """Write ``<name>.safetensors`` and ``<name>.json`` into :func:`styles_dir` and refresh
    the snapshot. Never overwrites: a name taken meanwhile raises ValueError and nothing
    is left behind."""
    from editor.engine.weights import save_weights

    name = check_new_name(name)
    folder = styles_dir()
    folder.mkdir(parents=True, exist_ok=True)
    card_path = folder / f"{name}.json"
    weights_path = folder / f"{name}.safetensors"
    # The card is claimed first, exclusively: two trainings finishing under one name cannot
    # both win, and the loser touches nothing of the winner's.
    try:
        claim = os.open(card_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        raise ValueError(f"a style called {name!r} was saved meanwhile; choose another "
                         "name") from None
    created = [card_path]
    try:
        os.close(claim)
        if weights_path.exists():
            raise ValueError(f"{weights_path} appeared meanwhile; choose another name")
        created.append(weights_path)
        sha = save_weights(state_dict, weights_path)
        card = {"format": CARD_FORMAT, "version": CARD_VERSION, "name": name,
                "label": (label or name).strip() or name, "architecture": "lptn",
                "arch_kwargs": dict(arch_kwargs), "weights": weights_path.name,
                "sha256": sha, "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
                **dict(details)}
        temporary = card_path.with_name(card_path.name + ".partial")
        created.append(temporary)
        temporary.write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
        os.replace(temporary, card_path)
    except BaseException:
        # Only what this call created goes: never another style's files.
        for path in created:
            try:
                path.unlink(missing_ok=True)
            except OSError:
                pass
        raise
    refresh_styles()
    return get_style(name)


refresh_styles()
