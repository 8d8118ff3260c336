"""Weights loading: safetensors only, sha256-verified, one-line errors a user can act on."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from editor.engine import weights
from editor.engine.weights import (WeightsError, load_model, load_state_dict, save_weights,
                                   sha256_file)
from editor.nets.tiny import TinyNet


def assert_one_line(error: Exception) -> str:
    message = str(error)
    assert "\n" not in message and "Traceback" not in message
    return message


def test_roundtrip_and_sha(make_tiny_spec, tmp_path: Path):
    spec = make_tiny_spec()
    path = tmp_path / spec.weights
    assert sha256_file(path) == spec.sha256
    state = load_state_dict(spec, tmp_path)
    torch.manual_seed(0)
    expected = TinyNet().state_dict()  # same seed as the fixture: same random weights
    assert set(state) == set(expected)
    for key, value in expected.items():
        assert torch.equal(state[key], value)


def test_missing_file_names_file_places_and_sha(make_tiny_spec, tmp_path: Path):
    spec = make_tiny_spec()
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(WeightsError) as caught:
        load_state_dict(spec, empty)
    message = assert_one_line(caught.value)
    assert spec.weights in message and str(empty) in message and spec.sha256 in message
    assert caught.value.__suppress_context__  # no chained FileNotFoundError traceback


def test_corrupted_file_reports_expected_and_actual_sha(make_tiny_spec, tmp_path: Path):
    spec = make_tiny_spec()
    path = tmp_path / spec.weights
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF  # flip bits inside a tensor: still parseable, but not what we trained
    path.write_bytes(bytes(data))
    with pytest.raises(WeightsError) as caught:
        load_state_dict(spec, tmp_path)
    message = assert_one_line(caught.value)
    actual = sha256_file(path)
    assert spec.sha256 in message and actual in message and spec.weights in message
    assert caught.value.actual_sha256 == actual


def test_non_safetensors_file_is_a_weights_error(make_tiny_spec, tmp_path: Path):
    spec = make_tiny_spec()
    path = tmp_path / spec.weights
    path.write_bytes(b"PK\x03\x04 this is a pickle zip, not safetensors" * 10)
    matching = type(spec)(**{**spec.__dict__, "sha256": sha256_file(path)})
    with pytest.raises(WeightsError, match="not a readable safetensors file") as caught:
        load_state_dict(matching, tmp_path)
    assert_one_line(caught.value)


def test_never_unpickles(make_tiny_spec, tmp_path: Path, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("torch.load must never be used for weights")

    monkeypatch.setattr(torch, "load", refuse)
    load_model(make_tiny_spec(), "cpu", tmp_path)


def test_load_model_builds_evaluates_and_caches(make_tiny_spec, tmp_path: Path):
    spec = make_tiny_spec(scale=2)
    model = load_model(spec, "cpu", tmp_path)
    assert not model.training
    assert all(not p.requires_grad for p in model.parameters())
    with torch.inference_mode():
        out = model(torch.rand(1, 3, 10, 7))
    assert out.shape == (1, 3, 20, 14)
    assert load_model(spec, torch.device("cpu"), tmp_path) is model


def test_model_cache_is_bounded(make_tiny_spec, tmp_path: Path):
    specs = [make_tiny_spec(f"m{i}", seed=i) for i in range(weights.MODEL_CACHE_SIZE + 1)]
    first = load_model(specs[0], "cpu", tmp_path)
    for spec in specs[1:]:
        load_model(spec, "cpu", tmp_path)
    assert load_model(specs[0], "cpu", tmp_path) is not first  # evicted, rebuilt


def test_architecture_mismatch_is_a_weights_error(make_tiny_spec, tmp_path: Path):
    spec = make_tiny_spec(width=8, spec_width=4)
    with pytest.raises(WeightsError, match="does not fit architecture 'tiny'") as caught:
        load_model(spec, "cpu", tmp_path)
    assert "wrong shape" in assert_one_line(caught.value)


def test_save_weights_accepts_state_dict_and_returns_sha(tmp_path: Path):
    state = {"a": torch.arange(6.0).reshape(2, 3).t(), "b": torch.zeros(2)}  # non-contiguous
    sha = save_weights(state, tmp_path / "sub" / "w.safetensors")
    assert sha == sha256_file(tmp_path / "sub" / "w.safetensors")
    assert not list((tmp_path / "sub").glob("*.partial"))
