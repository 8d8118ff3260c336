"""Portrait edit: make every face older, younger, more masculine or more feminine (or apply
a user-trained effect) with Facelet-Bank (:mod:`editor.nets.facelet`).

Per face: detect (68 landmarks) -> align to the autoencoder's canonical face frame (128 px
per frame, with a margin: the crop is 192 px) -> ``f = encode(crop)`` -> the edit
``decode(f + strength * facelet(f))``. Only the CHANGE the edit makes over the plain
reconstruction, ``decode(f + s * facelet(f)) - decode(f)``, is added to the photo's own
crop and pasted back feathered through the exact inverse transform — so the autoencoder's
small reconstruction error never blurs the face, and strength 0 leaves every pixel exactly
as it was. The result is the whole image; the faces' region is its mask (a new masked
layer in the editor, composited by the command line).

Speed for the slider: the faces, their features ``f`` and reconstructions of the last image
(up to :data:`CACHE_MAX_PIXELS`) are kept, and each effect's ``facelet(f)`` once computed,
so a strength step runs only the decoder and the paste-back; an effect change runs the
small facelet too. Switching effects swaps only the facelet: the autoencoder is loaded once.

``strength`` runs from -1 to +1; negative runs the effect the other way (older at -0.5 is
a little younger). :func:`portrait_frame` edits one video frame (RGB) with fixed effect and
strength: the same frame and settings always give the same pixels.

Errors, each a ValueError with a one-line message and no change to the image: no face
(:class:`NoFaceFound`), faces below :data:`MIN_FACE_PX`, an unknown effect, a missing or
damaged facelet or autoencoder file (:class:`FaceletUnavailable`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from editor.engine.progress import Progress
from editor.tools import portrait_effects
from editor.tools.face_common import (FaceFinder, LastResult, NoFaceFound, image_key,
                                      merge_rgb, split_rgb)
from editor.tools.model_slot import ModelSlot, SingleModel
from editor.tools.schema import Masked, Param, Tool, composite_masked

AUTOENCODER_ID = portrait_effects.AUTOENCODER_ID
#: Pixels across the face frame (UTKFace 200 -> 128, what the autoencoder trained on).
FRAME_PX = 128
#: Margin around the face frame on each side (fraction of the frame): crop = 192 px.
PADDING = 0.25
#: Smallest face (eye distance x 2.5, px) that is edited: smaller faces would be blown up
#: more than 3x into the crop, and the edit would only be blur.
MIN_FACE_PX = 40
CACHE_MAX_PIXELS = 4_000_000

AUTOENCODER = ModelSlot(AUTOENCODER_ID, "face autoencoder")


class FaceletUnavailable(ValueError):
    """The effect's facelet (or the shared autoencoder) cannot be loaded; says why."""


def crop_size() -> int:
    return int(round(FRAME_PX * (1 + 2 * PADDING)))


# -- where the facelets come from (tests replace it) ------------------------------------------

def _registry_facelet(name: str) -> SingleModel:
    effect = portrait_effects.get_effect(name)
    return SingleModel(effect.spec, directory=effect.directory,
                       what=f"facelet for '{effect.label}'")


_facelet_source = _registry_facelet


def set_facelet_source(source):
    """Use ``source(effect name) -> SingleModel`` for the facelets (None: the effects
    list); returns the previous one."""
    global _facelet_source
    previous, _facelet_source = _facelet_source, source or _registry_facelet
    return previous


def _load(source: SingleModel, what: str):
    from editor.engine.weights import WeightsError

    try:
        return source.load()
    except WeightsError as error:
        raise FaceletUnavailable(f"the {what} cannot be used: {error}") from None


# -- faces ------------------------------------------------------------------------------------

#: Finds the faces (tests set a stand-in with ``FACE_FINDER.set``).
FACE_FINDER = FaceFinder(MIN_FACE_PX, "for Portrait edit")
find_faces = FACE_FINDER
set_face_finder = FACE_FINDER.set


@dataclass
class _FaceWork:
    """One face's aligned crop, its features and plain reconstruction, and the feature
    change of every effect used so far (keyed by the facelet's spec and folder)."""
    crop: np.ndarray
    matrix: np.ndarray
    features: object                      # torch.Tensor (1, C, h, w)
    base: object                          # torch.Tensor (1, 3, H, W): decode(features)
    deltas: dict = field(default_factory=dict)


def _encode_faces(rgb: np.ndarray, faces, autoencoder, progress: Progress) -> list[_FaceWork]:
    import torch

    from editor.faces import align_face

    works = []
    for i, face in enumerate(faces):
        progress.check_cancelled()
        progress.set_progress(i / len(faces), f"Face {i + 1} of {len(faces)}")
        crop, matrix = align_face(rgb, face, size=crop_size(), padding=PADDING)
        x = torch.from_numpy(np.ascontiguousarray(crop.transpose(2, 0, 1))[None])
        with torch.inference_mode():
            f = autoencoder.encode(x)
            base = autoencoder.decode(f)
        works.append(_FaceWork(crop, matrix, f, base))
    progress.set_progress(1.0)
    return works


def _edited_crop(work: _FaceWork, autoencoder, facelet, key, strength: float) -> np.ndarray:
    """The photo's crop plus the change the edit makes over the plain reconstruction."""
    import torch

    if strength == 0.0:
        return work.crop
    with torch.inference_mode():
        delta = work.deltas.get(key)
        if delta is None:
            delta = work.deltas[key] = facelet(work.features)
        edited = autoencoder.decode(work.features + float(strength) * delta)
        change = (edited - work.base)[0].permute(1, 2, 0).float().numpy()
    return np.clip(work.crop + change, 0.0, 1.0)


# -- the last image's faces ---------------------------------------------------------------------

#: The last image's faces and their encodings (thread-safe).
_kept = LastResult()


def clear_cache() -> None:
    _kept.clear()


def portrait_image(image: np.ndarray, *, effect: str = "older", strength: float = 0.5,
                   progress: Progress | None = None) -> Masked:
    """Every face edited (full image, float32, the input's channels; RGB order) and the
    faces' mask."""
    from editor.faces import faces_mask, paste_back

    progress = progress or Progress()
    strength = float(strength)
    if not -1.0 <= strength <= 1.0:
        raise ValueError(f"strength: {strength!r} is outside -1–1")
    image = np.asarray(image)
    rgb, colour = split_rgb(image, "Portrait edit")
    facelet_source = _facelet_source(effect)        # unknown effect: ValueError, nothing run
    ae_source = AUTOENCODER.current()
    key = image_key(rgb, CACHE_MAX_PIXELS, ae_source)
    kept = _kept.get(key)
    autoencoder = _load(ae_source, "face autoencoder")
    if kept is None:
        faces = find_faces(rgb, progress.sub_progress(0.0, 0.4))
        works = _encode_faces(rgb, faces, autoencoder, progress.sub_progress(0.4, 0.8))
        mask = faces_mask(faces, rgb.shape[:2], ["face"])
        _kept.put(key, works, mask)
    else:
        works, mask = kept
    facelet = _load(facelet_source, f"'{effect}' facelet") if strength != 0.0 else None
    for work in works:   # rgb is this call's own copy: paste into it
        progress.check_cancelled()
        edited = _edited_crop(work, autoencoder, facelet, facelet_source, strength)
        if edited is not work.crop:
            paste_back(rgb, work.crop, edited, work.matrix, colour_match=False, out=rgb)
    out = merge_rgb(image, rgb, colour)
    progress.set_progress(1.0)
    return Masked(out, mask.copy())


def portrait_frame(frame: np.ndarray, effect: str, strength: float,
                   progress: Progress | None = None) -> np.ndarray:
    """One video frame (uint8 or float RGB HxWx3) edited with a fixed effect and strength,
    composited through the faces' mask; same dtype out. A frame without a usable face
    comes back unchanged (a face may leave the picture for a while)."""
    frame = np.asarray(frame)
    is_u8 = frame.dtype == np.uint8
    pixels = frame.astype(np.float32) / 255.0 if is_u8 else frame.astype(np.float32)
    try:
        result = portrait_image(pixels, effect=effect, strength=strength, progress=progress)
    except NoFaceFound:
        return frame.copy()
    out = composite_masked(pixels, result)
    if is_u8:
        return np.clip(np.round(out * 255.0), 0, 255).astype(np.uint8)
    return out


def portrait(image: np.ndarray, params: dict, progress: Progress) -> Masked:
    return portrait_image(image, effect=params["effect"], strength=params["strength"],
                          progress=progress)


TOOL = Tool(
    id="portrait",
    label="Portrait edit",
    icon="mdi6.face-man-profile",
    help="Make every detected face older, younger, more masculine or more feminine (or "
         "apply a facelet you trained with 'restora-cli train-facelet') with Facelet-Bank: "
         "a small per-effect network edits the face's features and a shared decoder paints "
         "the change. The result lands as a new layer masked to the faces.",
    params=(
        Param("effect", "choice", "older", choices=portrait_effects.EffectChoices(),
              label="Effect", help="What to change (your own facelets are listed too)"),
        Param("strength", float, 0.5, range=(-1.0, 1.0), step=0.05, label="Strength",
              help="How far to go; negative runs the effect the other way, 0 changes nothing"),
    ),
    run=portrait,
    preview="reduced",
    output_suffix="_portrait",
    model_ids=(AUTOENCODER_ID,) + tuple(m for _, m, _ in portrait_effects.SHIPPED),
)
