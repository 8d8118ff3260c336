"""Variants… on a seeded tool's page: four thumbnails for seeds s..s+3, each different and
labelled with its seed; clicking one sets the page's seed; Cancel and closing stop the
render and its thread; an error is one line in the strip. A stand-in seeded tool (seeded
noise) and Face enhance on its tiny stand-in models keep this free of trained weights."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from PIL import Image

from editor.engine.weights import clear_model_cache
from editor.qt.main_window import MainWindow
from editor.qt.tool_panel import ToolPage
from editor.qt.variant_strip import COUNT, THUMB_PX, VariantStrip, variant_seeds
from editor.tools import face_enhance
from editor.tools.schema import Param, Tool
from tests.face_enhance_fakes import tiny_frgd_sources
from tests.faces_fakes import fake_face_finder

pytestmark = pytest.mark.usefixtures("never_block_on_dialogs")

SEED = Param("seed", int, 0, range=(0, 99999))


def _noise(image, params, progress):
    rng = np.random.default_rng(params["seed"])
    noise = rng.random(image.shape[:2] + (3,), dtype=np.float32)
    return np.clip(image[..., :3] * (1 - params["amount"]) + noise * params["amount"], 0, 1)


SEEDED = Tool(id="seeded", label="Seeded noise", run=_noise,
              params=(SEED, Param("amount", float, 0.5, range=(0.0, 1.0))))
PLAIN = Tool(id="plain", label="Plain", run=lambda image, params, progress: image,
             params=(Param("amount", float, 0.5, range=(0.0, 1.0)),))


def _photo(h=300, w=400) -> np.ndarray:
    rng = np.random.default_rng(1)
    return (0.3 + 0.4 * rng.random((h, w, 3))).astype(np.float32)


def _ended(thread) -> bool:
    try:
        return not thread.isRunning()
    except RuntimeError:  # its C++ object is gone (deleteLater), and its thread with it
        return True


def _page(qtbot, tool=SEEDED) -> ToolPage:
    page = ToolPage(tool)
    qtbot.addWidget(page)
    return page


def _strip(qtbot, page, source) -> VariantStrip:
    strip = VariantStrip(page, source=source)
    strip.show()
    return strip


def test_variants_button_next_to_sample_again_only_for_seeded_tools(qtbot):
    page = _page(qtbot)
    assert page.variants_button is not None and page.sample_again is not None
    assert page.variants_button.parentWidget() is page.sample_again.parentWidget()
    assert page.variants_button.toolTip() and not page.variants_button.icon().isNull()
    assert _page(qtbot, PLAIN).variants_button is None
    assert variant_seeds(99998, 0, 99999) == [99998, 99999, 0, 1]


def test_strip_shows_four_different_variants_labelled_with_their_seeds(qtbot,
                                                                       no_leaked_qthreads):
    page = _page(qtbot)
    page.set_values({"seed": 41, "amount": 0.8})
    strip = _strip(qtbot, page, _photo)
    strip.render()
    assert strip.running() and strip.cancel_button.isEnabled()
    qtbot.waitUntil(lambda: not strip.running() and len(strip.variants) == COUNT,
                  timeout=20000)

    seeds = [seed for seed, _ in strip.variants]
    assert seeds == [41, 42, 43, 44]
    assert [b.text() for b in strip.buttons] == [f"Seed {s}" for s in seeds]
    images = [image for _, image in strip.variants]
    # Rendered downscaled (a few seconds on a CPU), at the photo's aspect ratio.
    assert all(image.shape[:2] == (THUMB_PX * 3 // 4, THUMB_PX) for image in images)
    for i in range(COUNT):
        for j in range(i + 1, COUNT):
            assert not np.allclose(images[i], images[j])
    assert all(b.isEnabled() and not b.icon().isNull() for b in strip.buttons)
    # The render's private thread is over once the thumbnails are shown.
    assert no_leaked_qthreads and all(_ended(t) for t in no_leaked_qthreads)
    strip.close()


@pytest.fixture
def window(qtbot, tmp_path):
    path = tmp_path / "photo.png"
    Image.fromarray((255 * _photo(120, 160)).astype(np.uint8)).save(path)
    w = MainWindow(tools={"seeded": SEEDED, "face-enhance": face_enhance.TOOL})
    qtbot.addWidget(w)
    w.show()
    assert w.file_ops.open_path(path)
    yield w
    w.close()


def test_clicking_third_variant_sets_its_seed_on_the_page_and_closes(qtbot, window):
    panel = window.tool_panel
    window.show_tool("seeded")
    panel.set_values({"seed": 7})
    page = panel.page()
    page.variants_button.click()
    strip = page.variant_strip
    assert strip.isVisible()
    qtbot.waitUntil(lambda: len(strip.variants) == COUNT, timeout=20000)
    # Rendered on the window's engine thread, from the open photo.
    assert strip.engine is None and strip._shared_engine is window.engine
    assert strip.buttons[2].text() == "Seed 9"

    with qtbot.waitSignal(panel.valuesChanged, timeout=2000):  # -> the normal preview
        strip.buttons[2].click()
    assert panel.values()["seed"] == 9
    assert not strip.isVisible()


def _blocking_tool(started: threading.Event, stopped: threading.Event) -> Tool:
    def run(image, params, progress):
        started.set()
        try:
            for _ in range(2000):
                progress.check_cancelled()
                threading.Event().wait(0.005)
            return image
        finally:
            stopped.set()

    return Tool(id="slow", label="Slow", run=run, params=(SEED,))


@pytest.mark.parametrize("how", ["cancel", "close"])
def test_cancel_or_close_stops_the_render_and_its_thread(qtbot, no_leaked_qthreads, how):
    started, stopped = threading.Event(), threading.Event()
    page = _page(qtbot, _blocking_tool(started, stopped))
    strip = _strip(qtbot, page, _photo)
    strip.render()
    qtbot.waitUntil(started.is_set, timeout=10000)
    thread = strip.engine
    assert thread.isRunning() and strip.progress_bar.isVisible()

    if how == "cancel":
        strip.cancel_button.click()
        assert strip.isVisible() and strip.message.text() == "Cancelled."
    else:
        strip.close()
    assert stopped.is_set() and _ended(thread)
    assert not strip.running() and not strip.cancel_button.isEnabled()
    assert not any(b.isEnabled() for b in strip.buttons)
    qtbot.wait(50)  # a late result must not bring thumbnails back
    assert strip.variants == []


def test_an_error_is_one_line_in_the_strip(qtbot):
    def fails(image, params, progress):
        raise face_enhance.NoFaceFound("no face found in this image\ntry a larger photo")

    page = _page(qtbot, Tool(id="broken", label="Broken", run=fails, params=(SEED,)))
    strip = _strip(qtbot, page, _photo)
    strip.render()
    qtbot.waitUntil(lambda: not strip.running(), timeout=10000)
    assert strip.message.text() == "No variants: no face found in this image"
    assert not any(b.isEnabled() for b in strip.buttons) and strip.variants == []
    strip.close()


def test_without_a_photo_the_strip_says_so(qtbot):
    page = _page(qtbot)
    page.variants_button.click()
    strip = page.variant_strip
    assert strip.isVisible() and not strip.running()
    assert "Open a photo" in strip.message.text()
    strip.close()


@pytest.fixture
def face_models(tmp_path):
    frgd, id_net = tiny_frgd_sources(tmp_path / "models")
    previous = (face_enhance.SLOT.set(frgd), face_enhance.ID_SLOT.set(id_net),
                face_enhance.set_face_finder(fake_face_finder))
    face_enhance.clear_cache()
    yield
    face_enhance.SLOT.set(previous[0])
    face_enhance.ID_SLOT.set(previous[1])
    face_enhance.set_face_finder(previous[2])
    face_enhance.clear_cache()
    clear_model_cache()


def test_face_enhance_variants_differ_and_no_face_is_a_message(qtbot, face_models, window):
    window.tool_panel.set_preview_enabled(False)
    window.show_tool("face-enhance")
    page = window.tool_panel.page()
    page.set_values({"seed": 3, "identity": 0.5})
    page.variants_button.click()
    strip = page.variant_strip
    qtbot.waitUntil(lambda: not strip.running(), timeout=60000)
    assert [seed for seed, _ in strip.variants] == [3, 4, 5, 6], strip.message.text()
    first, second = strip.variants[0][1], strip.variants[1][1]
    assert not np.allclose(first, second)

    face_enhance.set_face_finder(lambda rgb, progress: (_ for _ in ()).throw(
        face_enhance.NoFaceFound("no face found in this image")))
    face_enhance.clear_cache()
    page.variants_button.click()  # the open strip renders again
    qtbot.waitUntil(lambda: not strip.running(), timeout=60000)
    assert strip.message.text() == "No variants: no face found in this image"
    strip.close()
