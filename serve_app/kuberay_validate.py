"""Validate a rendered RayService offline: the CRD's OpenAPI schema and Ray's Serve schema.

Why: there is no Kubernetes API server here, so the manifest is checked the way the API
server would check it (the KubeRay CRD's `openAPIV3Schema`, read from the assets root, where
`schemas/kuberay/` holds the operator's CRDs), and the `serveConfigV2` string, opaque to the
CRD, is checked against Ray's own `ServeDeploySchema` and this project's app builder args.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import yaml

from foundation.paths import assets_root

CRD_DIR = Path("schemas") / "kuberay"
CRD_FILES = {"RayService": "ray.io_rayservices.yaml", "RayCluster": "ray.io_rayclusters.yaml"}


class ManifestInvalid(ValueError):
    """The manifest breaks a schema; the message names the path inside the manifest."""


def crd_path(kind: str = "RayService", root: Path | None = None) -> Path:
    """Where the CRD of `kind` lives under the assets root (`$COE_ASSETS/schemas/kuberay/`)."""
    return (root or assets_root()) / CRD_DIR / CRD_FILES[kind]


def load_crd_schema(kind: str = "RayService", root: Path | None = None) -> dict[str, Any]:
    """The storage version's `openAPIV3Schema` of the CRD (raises naming the file if absent)."""
    path = crd_path(kind, root)
    if not path.is_file():
        raise FileNotFoundError(
            f"KubeRay CRD not found: {path} (assets root {assets_root()}; set COE_ASSETS)"
        )
    return _storage_schema(str(path), path.stat().st_mtime)


@functools.lru_cache(maxsize=4)
def _storage_schema(path: str, _mtime: float) -> dict[str, Any]:
    # The CRDs are ~1 MB: libyaml's loader is ~10x faster than the pure-Python one.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with open(path) as handle:
        crd = yaml.load(handle, Loader=loader)  # noqa: S506 - a safe loader
    versions = [v for v in crd["spec"]["versions"] if v.get("storage")]
    if len(versions) != 1:
        raise ValueError(f"{path}: expected exactly one storage version, got {len(versions)}")
    return versions[0]["schema"]["openAPIV3Schema"]


def validate_against_crd(manifest: dict[str, Any], schema: dict[str, Any]) -> None:
    """Raise ManifestInvalid listing every schema violation with its path."""
    import jsonschema

    validator = jsonschema.Draft7Validator(schema)
    errors = sorted(validator.iter_errors(manifest), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [
            f"  {'.'.join(str(p) for p in e.absolute_path) or '(top level)'}: {e.message}"
            for e in errors[:20]
        ]
        raise ManifestInvalid("manifest does not match the CRD schema:\n" + "\n".join(lines))


def validate_serve_config(text: str) -> dict[str, Any]:
    """Parse `serveConfigV2`, check it with Ray's ServeDeploySchema and our BuildArgs/cascade.

    Returns the parsed config. Raises ManifestInvalid naming the field.
    """
    from ray.serve.schema import ServeDeploySchema

    from serve_app.app import BuildArgs, load_config

    config = yaml.safe_load(text)
    try:
        ServeDeploySchema.model_validate(config)
    except Exception as exc:  # noqa: BLE001 - pydantic v1/v2 errors alike
        raise ManifestInvalid(f"serveConfigV2 fails Ray's ServeDeploySchema: {exc}") from None
    for index, app in enumerate(config.get("applications", [])):
        try:
            load_config(BuildArgs.model_validate(app.get("args", {})))
        except Exception as exc:  # noqa: BLE001 - pydantic and config errors alike
            raise ManifestInvalid(f"serveConfigV2 applications.{index}.args: {exc}") from None
    return config


def validate_rayservice(manifest: dict[str, Any], root: Path | None = None) -> None:
    """Both checks: the manifest against the RayService CRD, its Serve config against Ray's."""
    validate_against_crd(manifest, load_crd_schema("RayService", root))
    validate_serve_config(manifest["spec"]["serveConfigV2"])
