"""The model registry: explicit, duplicate-free, with helpful errors; weights are found
from a checkout, an installed wheel, or RESTORA_MODELS_DIR."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import editor
from editor.engine import registry
from editor.engine.registry import (ARCHITECTURES, MODELS_DIR_ENV, ModelRegistry, ModelSpec,
                                    UnknownModelError, find_weights, model_search_dirs,
                                    models_dir, register_architecture)

SHA = "ab" * 32


def spec(model_id: str = "sr-x2", task: str = "superres", **kw) -> ModelSpec:
    fields = dict(id=model_id, task=task, architecture="tiny", weights=f"{model_id}.safetensors",
                  sha256=SHA, licence="CC-BY-4.0", scale=2)
    fields.update(kw)
    return ModelSpec(**fields)


def test_duplicate_id_raises():
    models = ModelRegistry()
    models.register(spec("a"))
    with pytest.raises(ValueError, match="'a' is already registered"):
        models.register(spec("a", task="deblur"))


def test_unknown_id_lists_known_ids():
    models = ModelRegistry()
    models.register(spec("sr-x2"))
    models.register(spec("deblur-1", task="deblur"))
    with pytest.raises(UnknownModelError) as caught:
        models.get("sr-x4")
    message = str(caught.value)
    assert isinstance(caught.value, KeyError)
    assert "sr-x4" in message and "deblur-1" in message and "sr-x2" in message
    assert not message.startswith(('"', "'"))  # not KeyError's quoted repr


def test_specs_filter_by_task_keep_registration_order():
    models = ModelRegistry()
    for s in (spec("b"), spec("a"), spec("d1", task="deblur")):
        models.register(s)
    assert [s.id for s in models.specs()] == ["b", "a", "d1"]
    assert [s.id for s in models.specs("superres")] == ["b", "a"]
    assert [s.id for s in models] == ["b", "a", "d1"]
    assert "d1" in models and "zz" not in models and len(models) == 3
    assert models.get("a").task == "superres"


def test_spec_is_hashable_and_normalises_arch_kwargs():
    one = spec(arch_kwargs={"width": 8, "channels": 3}, sha256=SHA.upper())
    two = spec(arch_kwargs=(("channels", 3), ("width", 8)))
    assert one == two and hash(one) == hash(two)
    assert one.kwargs == {"channels": 3, "width": 8}
    assert one.sha256 == SHA


@pytest.mark.parametrize("bad", [dict(sha256="123"), dict(weights="../evil.safetensors"),
                                 dict(weights="sub/x.safetensors"), dict(scale=0),
                                 dict(tile_overlap=-1), dict(id="")])
def test_invalid_specs_are_rejected(bad):
    with pytest.raises(ValueError):
        spec(**bad)


def test_unknown_architecture_is_rejected_at_registration():
    with pytest.raises(ValueError, match="unknown architecture 'nope'"):
        ModelRegistry().register(spec(architecture="nope"))


def test_architecture_registry_is_explicit_and_duplicate_free():
    assert "tiny" in ARCHITECTURES
    with pytest.raises(ValueError):
        register_architecture("tiny", lambda **kw: None)
    net = ARCHITECTURES["tiny"](channels=3, scale=2, width=4)
    assert type(net).__name__ == "TinyNet"


def test_application_registry_specs_are_buildable():
    for s in registry.REGISTRY:
        assert s.architecture in ARCHITECTURES


def test_find_weights_explicit_directory(tmp_path: Path):
    (tmp_path / "m.safetensors").write_bytes(b"x")
    assert find_weights("m.safetensors", tmp_path) == tmp_path / "m.safetensors"
    with pytest.raises(FileNotFoundError) as caught:
        find_weights("other.safetensors", tmp_path)
    assert caught.value.searched == [tmp_path]


def test_env_var_overrides_search(tmp_path: Path, monkeypatch):
    monkeypatch.setenv(MODELS_DIR_ENV, str(tmp_path))
    assert model_search_dirs() == [tmp_path]
    assert models_dir() == tmp_path
    (tmp_path / "m.json").write_text("{}")
    assert find_weights("m.json") == tmp_path / "m.json"


def test_checkout_and_installed_locations_are_searched(monkeypatch):
    monkeypatch.delenv(MODELS_DIR_ENV, raising=False)
    dirs = model_search_dirs()
    root = Path(editor.__file__).resolve().parents[1]
    if (root / "pyproject.toml").is_file():  # running from a checkout
        assert dirs[0] == root / "models"
    else:  # running against an installed wheel: site-packages/models is not ours
        assert root / "models" not in dirs
    assert Path(sys.prefix) / "share" / "restora" / "models" in dirs
