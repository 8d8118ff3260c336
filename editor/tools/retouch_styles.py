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
parameter's ``choices`` is :func:`StyleChoices` (an
:class:`editor.tools.user_models.LiveChoices`): a read-only sequence of ``(name,
label)`` pairs that reads this module's snapshot of the styles. The snapshot is taken when
the module loads and again by :func:`refresh_styles`, which saving a style calls (and the
GUI after Learn my look, to refill the combo box it filled once). Validation, ``--help``,
``restora-cli list`` and new panel pages all see the current list; nothing is rebuilt.

Bad files never break the list: a card that cannot be read, whose weights are missing or
do not match its checksum, or whose name clashes with another style, is left out and
reported in :func:`problems` (and logged); the other styles are still offered.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Mapping

from editor.engine.registry import ModelSpec
from editor.tools.user_models import (NAME_PATTERN, UserModelEntry, UserModelStore, card_spec,
                                      shipped_entries)

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
LICENCE_USER = "your own before/after photos (on top of the shipped pre-trained weights)"


@dataclass(frozen=True)
class Style(UserModelEntry):
    """One style: ``name`` (what ``--style`` takes), ``label`` (what the menu shows), the
    model ``spec`` and the ``directory`` holding its weights (None: the models folder)."""

    MINE: ClassVar[str] = "my style"


def shipped_styles() -> list[Style]:
    """Every shipped style registered in the catalog (listed whether or not its weights
    are installed: using a missing one gives the engine's clear message)."""
    return shipped_entries(Style, SHIPPED)


def user_spec(name: str, card: Mapping[str, Any]) -> ModelSpec:
    """The ModelSpec of a user style from its card (ValueError when the card is bad)."""
    return card_spec(name, card, architecture="lptn", task="retouch", id_prefix="retouch-user-",
                     licence=LICENCE_USER, what="an LPTN style")


STORE = UserModelStore(kind="style", env=STYLES_DIR_ENV, subfolder="styles",
                       card_format=CARD_FORMAT, card_version=CARD_VERSION, architecture="lptn",
                       spec=user_spec, entry=Style, shipped=shipped_styles,
                       shipped_names=lambda: {name for name, _, _ in SHIPPED})

styles_dir = STORE.folder
scan_user_styles = STORE.scan
refresh_styles = STORE.refresh
styles = STORE.items
problems = STORE.problems
get_style = STORE.get
check_new_name = STORE.check_new_name
save_user_style = STORE.save


def StyleChoices():  # noqa: N802 - reads like the class the schema holds
    """The style parameter's live ``(name, label)`` choices (see the module docstring)."""
    return STORE.choices()


__all__ = ["NAME_PATTERN", "SHIPPED", "STORE", "STYLES_DIR_ENV", "Style", "StyleChoices",
           "check_new_name", "get_style", "problems", "refresh_styles", "save_user_style",
           "scan_user_styles", "shipped_styles", "styles", "styles_dir", "user_spec"]

refresh_styles()
