"""Portrait edit's effects: the shipped facelets (catalog models ``facelet-<name>``) and
the user's own, trained with ``restora-cli train-facelet``, in the user facelets folder.

A user facelet is two files in :func:`facelets_dir`: ``<name>.safetensors`` and its card
``<name>.json`` (label, sha256 of the weights, architecture, the sha256 of the
autoencoder it was trained on, how it was trained). The folder is
``$RESTORA_FACELETS_DIR`` (tests), else ``~/.local/share/restora/facelets`` (platformdirs'
user data folder when installed). No Qt here.

The list, the folder, saving and the live choices are a
:class:`editor.tools.user_models.UserModelStore` (shared with the Retouch styles): a
facelet trained a minute ago is offered without rebuilding the tool, and a card that
cannot be read, or whose weights are missing or do not match their checksum, is left out
and reported by :func:`problems`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Mapping

from editor.engine.registry import ModelSpec
from editor.tools.user_models import UserModelEntry, UserModelStore, card_spec, shipped_entries

FACELETS_DIR_ENV = "RESTORA_FACELETS_DIR"
CARD_FORMAT = "restora-user-facelet"
AUTOENCODER_ID = "face-autoencoder"
#: (effect name, catalog model id, label), in menu order; the first is the default.
SHIPPED: tuple[tuple[str, str, str], ...] = (
    ("older", "facelet-older", "Older"),
    ("younger", "facelet-younger", "Younger"),
    ("masculine", "facelet-masculine", "More masculine"),
    ("feminine", "facelet-feminine", "More feminine"),
)
LICENCE_USER = "your own photos (on the shipped face autoencoder, UTKFace: non-commercial research)"


@dataclass(frozen=True)
class Effect(UserModelEntry):
    """One effect: ``name`` (what ``--effect`` takes), ``label``, the facelet's model
    ``spec`` and the ``directory`` holding its weights (None: the models folder)."""

    MINE: ClassVar[str] = "my facelet"


def shipped_effects() -> list[Effect]:
    return shipped_entries(Effect, SHIPPED)


def user_spec(name: str, card: Mapping[str, Any]) -> ModelSpec:
    """The ModelSpec of a user facelet from its card (ValueError when the card is bad)."""
    return card_spec(name, card, architecture="facelet", task="portrait_facelet",
                     id_prefix="facelet-user-", licence=LICENCE_USER, what="a facelet")


STORE = UserModelStore(kind="facelet", env=FACELETS_DIR_ENV, subfolder="facelets",
                       card_format=CARD_FORMAT, architecture="facelet", spec=user_spec,
                       entry=Effect, shipped=shipped_effects,
                       shipped_names=lambda: {name for name, _, _ in SHIPPED})

facelets_dir = STORE.folder
refresh_effects = STORE.refresh
effects = STORE.items
problems = STORE.problems
check_new_name = STORE.check_new_name
save_user_facelet = STORE.save


def get_effect(name: str) -> Effect:
    """The effect called ``name``; ValueError listing the known ones."""
    for effect in effects():
        if effect.name == name:
            return effect
    known = ", ".join(e.name for e in effects()) or "none"
    raise ValueError(f"unknown effect {name!r}; known effects: {known}")


def EffectChoices():  # noqa: N802 - reads like the class the schema holds
    """The effect parameter's live ``(name, label)`` choices."""
    return STORE.choices()


refresh_effects()
