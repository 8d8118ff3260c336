"""Every tool test runs Super-resolution on stand-in TinyNet models (tests/sr_fakes.py):
the generated schema tests run each registered tool, and none may depend on trained
weights. Tests that want other models (missing ones, the shipped ones) set their own."""

from __future__ import annotations

import pytest

from editor.engine.weights import clear_model_cache
from editor.tools import superres
from tests.sr_fakes import tiny_sr_source


@pytest.fixture(scope="session")
def fake_sr_source(tmp_path_factory):
    return tiny_sr_source(tmp_path_factory.mktemp("sr-models"))


@pytest.fixture(autouse=True)
def _fake_sr_models(fake_sr_source):
    previous = superres.set_model_source(fake_sr_source)
    superres.clear_cache()
    yield fake_sr_source
    superres.set_model_source(previous)
    superres.clear_cache()
    clear_model_cache()


# Deblur, likewise: the generated schema tests run it on a random-weight SRNDeblur
# (tests/deblur_fakes.py), never on trained weights.
@pytest.fixture(scope="session")
def fake_deblur_source(tmp_path_factory):
    from tests.deblur_fakes import tiny_deblur_source

    return tiny_deblur_source(tmp_path_factory.mktemp("deblur-models"))


@pytest.fixture(autouse=True)
def _fake_deblur_model(fake_deblur_source):
    from editor.tools import deblur

    previous = deblur.set_model_source(fake_deblur_source)
    deblur.clear_cache()
    yield fake_deblur_source
    deblur.set_model_source(previous)
    deblur.clear_cache()


# Remove makeup, likewise: a face "found" in the middle of every image and a TinyNet
# (tests/faces_fakes.py), so the generated tests need neither dlib nor trained weights.
@pytest.fixture(scope="session")
def fake_makeup_source(tmp_path_factory):
    from tests.faces_fakes import tiny_makeup_source

    return tiny_makeup_source(tmp_path_factory.mktemp("makeup-models"))


@pytest.fixture(autouse=True)
def _fake_faces(fake_makeup_source):
    from editor.tools import demakeup
    from tests.faces_fakes import fake_face_finder

    previous_model = demakeup.SLOT.set(fake_makeup_source)
    previous_finder = demakeup.set_face_finder(fake_face_finder)
    demakeup.clear_cache()
    yield
    demakeup.SLOT.set(previous_model)
    demakeup.set_face_finder(previous_finder)
    demakeup.clear_cache()


# Retouch, likewise: every style runs a narrow random-weight LPTN (tests/retouch_fakes.py).
@pytest.fixture(scope="session")
def fake_retouch_source(tmp_path_factory):
    from tests.retouch_fakes import tiny_retouch_source

    return tiny_retouch_source(tmp_path_factory.mktemp("retouch-models"))


@pytest.fixture(autouse=True)
def _fake_retouch_model(fake_retouch_source):
    from editor.tools import retouch

    previous = retouch.set_model_source(fake_retouch_source)
    retouch.clear_cache()
    yield fake_retouch_source
    retouch.set_model_source(previous)
    retouch.clear_cache()


# Portrait edit, likewise: a tiny random face autoencoder and tiny random facelets
# (tests/portrait_fakes.py) and the face "found" in the middle of every image.
@pytest.fixture(scope="session")
def fake_portrait_models(tmp_path_factory):
    from tests.portrait_fakes import tiny_autoencoder_source, tiny_facelet_sources

    folder = tmp_path_factory.mktemp("portrait-models")
    return tiny_autoencoder_source(folder), tiny_facelet_sources(folder)


@pytest.fixture(autouse=True)
def _fake_portrait_models(fake_portrait_models):
    from editor.tools import portrait
    from tests.faces_fakes import fake_face_finder
    from tests.portrait_fakes import facelet_resolver

    autoencoder, facelets = fake_portrait_models
    previous_ae = portrait.AUTOENCODER.set(autoencoder)
    previous_facelets = portrait.set_facelet_source(facelet_resolver(facelets))
    previous_finder = portrait.set_face_finder(fake_face_finder)
    portrait.clear_cache()
    yield fake_portrait_models
    portrait.AUTOENCODER.set(previous_ae)
    portrait.set_facelet_source(previous_facelets)
    portrait.set_face_finder(previous_finder)
    portrait.clear_cache()


# Face enhance, likewise: a narrow random-weight FRGD U-Net and identity network
# (tests/face_enhance_fakes.py) and the face "found" in the middle of every image.
@pytest.fixture(scope="session")
def fake_face_enhance_models(tmp_path_factory):
    from tests.face_enhance_fakes import tiny_frgd_sources

    return tiny_frgd_sources(tmp_path_factory.mktemp("face-enhance-models"))


@pytest.fixture(autouse=True)
def _fake_face_enhance_models(fake_face_enhance_models):
    from editor.tools import face_enhance
    from tests.faces_fakes import fake_face_finder

    frgd, id_net = fake_face_enhance_models
    previous = (face_enhance.SLOT.set(frgd), face_enhance.ID_SLOT.set(id_net),
                face_enhance.set_face_finder(fake_face_finder))
    face_enhance.clear_cache()
    yield fake_face_enhance_models
    face_enhance.SLOT.set(previous[0])
    face_enhance.ID_SLOT.set(previous[1])
    face_enhance.set_face_finder(previous[2])
    face_enhance.clear_cache()
