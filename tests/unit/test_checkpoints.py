"""Safe weight loading: legacy pickles converted once, weights-only, never unsafe."""

import pickle
from collections import OrderedDict

import pytest
import torch

from zoo.checkpoints import UnsafeCheckpointError, converted_path, file_sha256, read_state


class Evil:
    def __reduce__(self):
        return (print, ("this would run on load",))


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("COE_CACHE", str(tmp_path / "cache"))
    return tmp_path


def legacy_save(obj, path):
    torch.save(obj, path, _use_new_zipfile_serialization=False)


def test_legacy_checkpoint_is_converted_once_into_the_cache(cache, monkeypatch):
    source = cache / "resnet-x.th"
    state = OrderedDict({"module.w": torch.arange(4.0)})
    legacy_save({"best_prec1": 91.5, "state_dict": state}, source)
    first = read_state(source)
    assert torch.equal(first["state_dict"]["module.w"], torch.arange(4.0))
    assert first["best_prec1"] == 91.5
    target = converted_path(source, file_sha256(source))
    assert target.exists()
    calls = []
    real = torch.load
    monkeypatch.setattr(torch, "load", lambda p, **k: calls.append((p, k)) or real(p, **k))
    again = read_state(source)
    assert [c[0] for c in calls] == [target]  # the converted copy, not the legacy file
    assert all(c[1]["weights_only"] is True for c in calls)
    assert torch.equal(again["state_dict"]["module.w"], torch.arange(4.0))


def test_a_pickle_with_code_is_refused_not_run(cache):
    source = cache / "evil.th"
    with open(source, "wb") as handle:
        pickle.dump({"state_dict": {"w": Evil()}}, handle)
    with pytest.raises(UnsafeCheckpointError, match="refusing to unpickle"):
        read_state(source)


def test_the_shipped_resnet_checkpoint_loads_weights_only(cache):
    from zoo.resnet_cifar import checkpoint_path

    try:
        path = checkpoint_path(20)
    except FileNotFoundError:
        pytest.skip("assets not present")
    state = read_state(path)["state_dict"]
    assert sum(v.numel() for v in state.values()) == 269_722 + sum(
        v.numel() for k, v in state.items() if "running" in k)
