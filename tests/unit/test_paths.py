"""Assets and caches are found through environment variables, with errors naming the path."""

from __future__ import annotations

import pytest

from foundation.paths import AssetNotFoundError, assets_root, cache_root, require_asset


def test_assets_root_follows_env(monkeypatch, tmp_path):
    monkeypatch.setenv("COE_ASSETS", str(tmp_path))
    assert assets_root() == tmp_path


def test_assets_root_defaults_to_shared_beside_repo(monkeypatch):
    monkeypatch.delenv("COE_ASSETS", raising=False)
    assert assets_root().name == "shared"


def test_cache_root_follows_env_and_is_created(monkeypatch, tmp_path):
    target = tmp_path / "nested" / "cache"
    monkeypatch.setenv("COE_CACHE", str(target))
    assert cache_root() == target
    assert target.is_dir()


def test_require_asset_names_missing_path_and_hint(monkeypatch, tmp_path):
    monkeypatch.setenv("COE_ASSETS", str(tmp_path))
    with pytest.raises(AssetNotFoundError) as info:
        require_asset("data/nothing.npy", hint="Put it there.")
    message = str(info.value)
    assert str(tmp_path / "data" / "nothing.npy") in message
    assert "Put it there." in message
    assert isinstance(info.value, FileNotFoundError)
