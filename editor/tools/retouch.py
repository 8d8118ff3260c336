"""Retouch: give a photo a learnt colour-and-tone look — the Expert C retoucher's, a neutral
auto-correction, or the user's own (Learn my look) — with LPTN (:mod:`editor.nets.lptn`).

``style`` picks the network (:mod:`editor.tools.retouch_styles`: shipped styles are the
catalog's ``retouch-*`` models, user styles live in the user data folder; the list is
live, see that module for why). ``strength`` (0–1) is blended inside the network, in the
low-frequency band and the detail masks (:mod:`editor.tools.retouch_render`), never by
mixing output and input pixels, so details stay as crisp at 0.5 as at 1; 0 returns the
input exactly (no network runs, no weights are needed).

Cheap enough to preview live: the network only sees a low band of at most 64 px across,
whatever the photo's size, and the full-resolution levels are a few cv2 pyramid passes
(about a third of a second for a 4K photo on 2 CPU threads; see ``bench retouch``). Styles
with a global grade (Expert C, every Learn-my-look style) add a pointwise curve → colour
matrix → curve pass at full resolution (:mod:`editor.nets.tone_curve`). The
whole photo is rendered at once, never in tiles: the low-frequency branch normalises over
the whole picture, and tiles would each get a look of their own. The network's analysis
of the last image (up to :data:`CACHE_MAX_PIXELS`) is kept, so dragging only the strength
slider re-renders the pyramid without running the network.

Pixels: float32 RGB(A), grey or grey+alpha in [0, 1]. Grey photos are retouched as RGB
and averaged back; alpha is passed through. The mask comes from the editor: with a
selection, Apply confines the result to it, and the result lands as a new layer whose
mask can be painted.

torch is imported only when a network runs.
"""

from __future__ import annotations

import hashlib
import threading

import numpy as np

from editor.engine.progress import Progress
from editor.tools import retouch_styles
from editor.tools.model_slot import SingleModel
from editor.tools.retouch_render import Analysis, analyse, render
from editor.tools.schema import Param, Tool

#: The catalog models the shipped styles use.
MODEL_IDS = tuple(model_id for _, model_id, _ in retouch_styles.SHIPPED)
DEFAULT_STYLE = retouch_styles.SHIPPED[0][0]
#: Images up to this many pixels (previews) keep their analysis for the strength slider.
CACHE_MAX_PIXELS = 2_500_000


# -- where the networks come from -----------------------------------------------------------

#: Replaces every style's model when set (tests run the tool on random-weight networks).
_override: SingleModel | None = None


def set_model_source(source: SingleModel | None) -> SingleModel | None:
    """Use ``source`` for every style (None: each style's own model); returns the previous
    one so callers can restore it."""
    global _override
    previous, _override = _override, source
    return previous


def style_source(name: str) -> SingleModel:
    """The model behind style ``name`` (ValueError for an unknown style)."""
    if _override is not None:
        return _override
    style = retouch_styles.get_style(name)
    return SingleModel(style.spec, directory=style.directory,
                       what=f"Retouch style '{style.label}'")


# -- the kept analysis ------------------------------------------------------------------------

class _KeptAnalysis:
    """The last small image's analysis (thread-safe: previews run on the engine thread)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entry: tuple[tuple, Analysis] | None = None

    def get(self, key: tuple) -> Analysis | None:
        with self._lock:
            if self._entry is not None and self._entry[0] == key:
                return self._entry[1]
        return None

    def put(self, key: tuple, analysis: Analysis) -> None:
        with self._lock:
            self._entry = (key, analysis)

    def clear(self) -> None:
        with self._lock:
            self._entry = None


_kept = _KeptAnalysis()


def clear_cache() -> None:
    """Forget the kept analysis (tests; freeing memory)."""
    _kept.clear()


def _key(rgb: np.ndarray, source: SingleModel) -> tuple | None:
    if rgb.shape[0] * rgb.shape[1] > CACHE_MAX_PIXELS:
        return None  # hashing a whole photo on every Apply would cost more than it saves
    digest = hashlib.blake2b(np.ascontiguousarray(rgb).data, digest_size=16).digest()
    return (digest, rgb.shape, source.spec,
            None if source.directory is None else str(source.directory), source.device)


# -- the work -----------------------------------------------------------------------------------

def _split_channels(image: np.ndarray) -> tuple[np.ndarray, int]:
    """-> (RGB HxWx3 float32, colour channel count of the input)."""
    if not np.issubdtype(image.dtype, np.floating):
        raise ValueError(f"retouch expects float pixels in [0, 1], got {image.dtype}")
    if image.ndim == 2:
        image = image[..., None]
    if image.ndim != 3 or image.shape[2] not in (1, 2, 3, 4) or min(image.shape[:2]) < 1:
        raise ValueError(f"retouch expects an HxW or HxWx1-4 image, got {image.shape}")
    colour = 1 if image.shape[2] in (1, 2) else 3
    rgb = image[..., :colour].astype(np.float32, copy=False)
    if colour == 1:
        rgb = np.repeat(rgb, 3, axis=2)
    return np.ascontiguousarray(rgb), colour


def retouch_image(image: np.ndarray, *, style: str = DEFAULT_STYLE, strength: float = 1.0,
                  progress: Progress | None = None) -> np.ndarray:
    """``image`` with the look of ``style`` at ``strength``: float32, same shape, in
    [0, 1]. Raises ValueError for bad input or an unknown style, WeightsError when the
    style's weights are missing or damaged (only when ``strength`` > 0), Cancelled via
    ``progress``."""
    strength = float(strength)
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"strength: {strength!r} is outside 0–1")
    image = np.asarray(image)
    progress = progress or Progress()
    rgb, colour = _split_channels(image)
    source = style_source(style)
    progress.set_progress(0.0, "Retouch")
    if strength == 0.0:
        progress.set_progress(1.0)
        return np.array(image, dtype=np.float32)     # a copy: exactly the input

    key = _key(rgb, source)
    analysis = _kept.get(key) if key is not None else None
    if analysis is None:
        net = source.load()
        analysis = analyse(net, rgb, progress.sub_progress(0.0, 0.7))
        if key is not None:
            _kept.put(key, analysis)
    result = render(analysis, strength, progress.sub_progress(0.7, 0.98))
    np.clip(result, 0.0, 1.0, out=result)
    if colour == 1:
        result = result.mean(axis=2, keepdims=True)
    out = np.array(image, dtype=np.float32, copy=True)
    if out.ndim == 2:
        out = result[..., 0]
    else:
        out[..., :colour] = result
    progress.set_progress(1.0)
    return out


def retouch(image: np.ndarray, params: dict, progress: Progress) -> np.ndarray:
    """Tool entry point: :func:`retouch_image` with the panel's/CLI's parameters."""
    return retouch_image(image, style=params["style"], strength=params["strength"],
                         progress=progress)


TOOL = Tool(
    id="retouch",
    label="Retouch",
    icon="mdi6.palette-outline",
    help="Give the photo a learnt colour and tone look (LPTN: the colour is translated on a "
         "small low-frequency image, details are kept). Styles: a FiveK expert's "
         "retouching, a neutral auto-correction, or your own from Learn my look.",
    params=(
        Param("style", "choice", DEFAULT_STYLE, choices=retouch_styles.StyleChoices(),
              label="Style", help="Which look: a shipped style or one you taught it with "
                                  "Learn my look"),
        Param("strength", float, 1.0, range=(0.0, 1.0), step=0.05, label="Strength",
              help="How much of the look is applied (0 = unchanged, 1 = full); blended "
                   "in the low frequencies, so details never soften"),
    ),
    run=retouch,
    preview="full",
    output_suffix="_retouched",
    model_ids=MODEL_IDS,
)
