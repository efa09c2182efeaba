"""Models by name: the pool a cascade is built from.

A member spec is either a registered name (resnet20..56, the small CNNs, anything added
with `register_model`) or a prefixed spec for bringing your own model:
`torchvision:<arch>@<weights.pth>[?size=N]`, `torchscript:<file.pt>[?size=N]`,
`onnx:<file.onnx>[?size=N]`, `module:<pkg.mod>:<callable>`. Every member declares its input
size (the registered entry's `input_size`, the spec's `?size=N`, an ONNX model's static
input shape, or a module factory's third return value; default 32) and its preprocessing:
the ingress decodes an image once at its native size and each member fits it to its own
size (`LoadedMember.fit`). `ensure_known` is cheap (no torch import for registered names)
because config validation calls it; `load_member` does the real work.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

if TYPE_CHECKING:
    import numpy as np
    from torch import nn

RESNET_NAMES = ("resnet20", "resnet32", "resnet44", "resnet56")
SMALL_CNN_NAMES = ("cnn_a", "cnn_b", "cnn_c", "cnn_d", "cnn_e")  # == zoo.small_cnns.SMALL_CNNS
SPEC_PREFIXES = ("torchvision:", "torchscript:", "onnx:", "module:")
DEFAULT_INPUT_SIZE = 32


class UnknownModelError(ValueError):
    """A member spec names no registered model or is malformed."""


class WeightsNotTrainedError(FileNotFoundError):
    """A project-trained model has neither shipped nor cached weights (run `coe zoo train`)."""


@dataclass
class ModelEntry:
    """How to build one registered model. Factories run only when the model is needed."""

    name: str
    factory: Callable[[], nn.Module]  # the model with its weights loaded
    preprocess: Callable[[], Callable] | None = None  # builds the uint8-batch transform
    source: str = "user"
    architecture: Callable[[], nn.Module] | None = None  # weightless, for counting
    available: Callable[[], bool] = field(default=lambda: True)
    cached_accuracy: Callable[[], float | None] = field(default=lambda: None)
    input_size: int = DEFAULT_INPUT_SIZE  # square input side the preprocess expects


class ModelInfo(BaseModel):
    """One row of `coe zoo list`; mflops are millions of multiply-accumulates per image."""

    name: str
    params: int
    mflops: float
    source: str
    cached_accuracy: float | None = None
    available: bool


@dataclass
class LoadedMember:
    """A ready-to-run member: eval-mode model + its preprocessing + provenance."""

    name: str
    model: Any
    preprocess: Callable
    weights_sha: str
    source: str
    num_classes: int
    device: str = "cpu"
    input_size: tuple[int, int] = (DEFAULT_INPUT_SIZE, DEFAULT_INPUT_SIZE)  # (H, W)

    def fit(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """uint8 (N, H, W, 3) batch at this member's input size from images of any size."""
        import numpy as np

        from zoo.transforms import fit_image

        return np.stack([fit_image(_check_image(image), self.input_size) for image in images])

    def predict_probs(self, images_uint8_nhwc: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """Softmax probabilities (N, C) float32 for uint8 (N, H, W, 3) images."""
        import numpy as np
        import torch

        images = _check_images(images_uint8_nhwc)
        if tuple(images.shape[1:3]) != self.input_size:
            images = self.fit(images)
        out = np.empty((images.shape[0], self.num_classes), dtype=np.float32)
        with torch.inference_mode():
            for start in range(0, images.shape[0], batch_size):
                chunk = torch.from_numpy(images[start : start + batch_size]).permute(0, 3, 1, 2)
                inputs = self.preprocess(chunk.to(self.device))
                probs = torch.softmax(self.model(inputs).float(), dim=1)
                out[start : start + batch_size] = probs.cpu().numpy()
        return out


def _check_image(image: Any) -> np.ndarray:
    import numpy as np

    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        raise ValueError(f"an image must be a uint8 numpy array, got {type(image).__name__}")
    if image.ndim != 3 or image.shape[-1] != 3 or min(image.shape[:2]) < 1:
        raise ValueError(f"an image must have shape (H, W, 3), got {image.shape}")
    return image


def _check_images(images: Any) -> np.ndarray:
    import numpy as np

    if not isinstance(images, np.ndarray):
        raise ValueError(f"images must be a numpy array, got {type(images).__name__}")
    if images.dtype != np.uint8:
        raise ValueError(f"images must be uint8 (0..255), got dtype {images.dtype}")
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"images must have shape (N, H, W, 3), got {images.shape}")
    return np.ascontiguousarray(images)


_REGISTRY: dict[str, ModelEntry] = {}
_BUILTINS_LOADED = False


def register_model(
    name: str,
    factory: Callable[[], nn.Module],
    preprocess: Callable[[], Callable] | None = None,
    source: str = "user",
    architecture: Callable[[], nn.Module] | None = None,
    available: Callable[[], bool] | None = None,
    cached_accuracy: Callable[[], float | None] | None = None,
    input_size: int = DEFAULT_INPUT_SIZE,
) -> None:
    """Add a model to the pool. `preprocess` builds the uint8-batch transform (default CIFAR);
    images are fitted to `input_size` x `input_size` before it."""
    if not name or any(name.startswith(p) for p in SPEC_PREFIXES):
        raise ValueError(f"invalid model name {name!r}")
    _REGISTRY[name] = ModelEntry(
        name=name,
        factory=factory,
        preprocess=preprocess,
        source=source,
        architecture=architecture,
        available=available or (lambda: True),
        cached_accuracy=cached_accuracy or (lambda: None),
        input_size=input_size,
    )


def _register_builtins() -> None:
    """Register resnet20..56 and the small CNNs; nothing is imported or loaded until used."""
    global _BUILTINS_LOADED
    if _BUILTINS_LOADED:
        return
    _BUILTINS_LOADED = True
    for name in RESNET_NAMES:
        depth = int(name.removeprefix("resnet"))
        register_model(
            name,
            factory=lambda d=depth: _resnet(d, pretrained=True),
            source="pretrained: akamaster/pytorch_resnet_cifar10",
            architecture=lambda d=depth: _resnet(d, pretrained=False),
            available=lambda d=depth: _resnet_available(d),
            cached_accuracy=lambda n=name: _cached_eval_accuracy(n),
        )
    for name in SMALL_CNN_NAMES:
        register_model(
            name,
            factory=lambda n=name: _small_cnn(n, trained=True),
            source="trained here: coe zoo train (shipped in zoo/weights)",
            architecture=lambda n=name: _small_cnn(n, trained=False),
            available=lambda n=name: _small_cnn_weights(n).exists(),
            cached_accuracy=lambda n=name: _small_cnn_accuracy(n),
        )


def known_names() -> list[str]:
    _register_builtins()
    return list(_REGISTRY)


def _resnet(depth: int, pretrained: bool) -> nn.Module:
    from zoo.resnet_cifar import load_pretrained, resnet_cifar

    return load_pretrained(depth) if pretrained else resnet_cifar(depth)


def _resnet_available(depth: int) -> bool:
    from foundation.paths import AssetNotFoundError
    from zoo.resnet_cifar import checkpoint_path

    try:
        checkpoint_path(depth)
    except AssetNotFoundError:
        return False
    return True


def _small_cnn_weights(name: str) -> Path:
    """The weights file `load_member(name)` reads.

    A `coe zoo train` run in cache_root()/zoo/ wins when present (the user retrained on
    purpose) and its record fits today's architecture; otherwise the copy shipped in
    zoo/weights/ (sha256-checked against zoo/weights/manifest.json). If neither exists,
    the cache path (where `coe zoo train` would write).
    """
    from zoo.shipped import shipped_file
    from zoo.train import read_cached_record, weights_file

    if read_cached_record(name) is not None:
        return weights_file(name)
    return shipped_file(name) or weights_file(name)


def _small_cnn(name: str, trained: bool) -> nn.Module:
    import torch

    from zoo.shipped import WEIGHTS_DIR, load_shipped_state, shipped_file
    from zoo.small_cnns import SMALL_CNNS
    from zoo.train import read_cached_record, weights_file

    model = SMALL_CNNS[name]()
    if trained:
        if read_cached_record(name) is not None:
            state = torch.load(weights_file(name), map_location="cpu", weights_only=True)
        elif shipped_file(name) is not None:
            state = load_shipped_state(name)
        else:
            raise WeightsNotTrainedError(
                f"no weights for {name}: none shipped in {WEIGHTS_DIR} and none trained at "
                f"{weights_file(name)}; run `coe zoo train --models {name}`"
            )
        model.load_state_dict(state)
    return model.eval()


def _small_cnn_accuracy(name: str) -> float | None:
    from zoo.train import read_record

    record = read_record(name)
    return record.test_accuracy if record else None


def _cached_eval_accuracy(name: str) -> float | None:
    from zoo.evaluate import read_cached_result

    result = read_cached_result(name, "cifar10-jpeg", "test")
    return result.accuracy if result else None


# ---------------------------------------------------------------------------- specs


def _known_message(spec: str, problem: str) -> str:
    names = ", ".join(known_names())
    return (
        f"unknown model {spec!r}: {problem}. Known models: {names}; or a spec "
        "torchvision:<arch>@<weights.pth>[?size=N], torchscript:<file.pt>[?size=N], "
        "onnx:<file.onnx>[?size=N&preprocess=cifar|imagenet], module:<pkg.mod>:<callable>"
    )


def _split_options(spec: str, prefix: str, allowed: dict[str, Callable[[str], bool]]):
    """(body, {option: value}) of `prefix<body>[?k=v&...]`; unknown or bad options raise."""
    body, _, query = spec.removeprefix(prefix).partition("?")
    options: dict[str, str] = {}
    for item in filter(None, query.split("&")):
        key, _, value = item.partition("=")
        if key not in allowed or not allowed[key](value):
            names = ", ".join(f"{k}=N" if k == "size" else f"{k}=..." for k in allowed)
            raise UnknownModelError(_known_message(spec, f"bad option {item!r} (only {names})"))
        options[key] = value
    return body, options


def _size_ok(value: str) -> bool:
    return value.isdigit() and 8 <= int(value) <= 4096


SIZE_OPTION = {"size": _size_ok}
ONNX_OPTIONS = {"size": _size_ok, "preprocess": lambda v: v in ("cifar", "imagenet")}


def _parse_torchvision(spec: str) -> tuple[str, Path, int]:
    body, options = _split_options(spec, "torchvision:", SIZE_OPTION)
    arch, sep, path = body.partition("@")
    if not arch or not sep or not path:
        raise UnknownModelError(
            _known_message(spec, "expected torchvision:<arch>@<weights path>[?size=N]")
        )
    return arch, Path(path).expanduser(), int(options.get("size", 224))


def _parse_file_spec(spec: str, prefix: str, allowed: dict) -> tuple[Path, dict[str, str]]:
    body, options = _split_options(spec, prefix, allowed)
    if not body:
        raise UnknownModelError(_known_message(spec, f"expected {prefix}<file>"))
    return Path(body).expanduser(), options


def _parse_module(spec: str) -> tuple[str, str]:
    parts = spec.removeprefix("module:").split(":")
    if len(parts) != 2 or not all(parts):
        raise UnknownModelError(_known_message(spec, "expected module:<pkg.mod>:<callable>"))
    return parts[0], parts[1]


def _resolve_callable(spec: str) -> Callable:
    module_name, attr = _parse_module(spec)
    try:
        found = importlib.util.find_spec(module_name)
    except (ImportError, ValueError):
        found = None
    if found is None:
        raise UnknownModelError(_known_message(spec, f"module {module_name!r} not importable"))
    factory = getattr(importlib.import_module(module_name), attr, None)
    if not callable(factory):
        raise UnknownModelError(
            _known_message(spec, f"{module_name!r} has no callable named {attr!r}")
        )
    return factory


def ensure_known(spec: str) -> None:
    """Validate a member spec cheaply; raise UnknownModelError saying what is wrong."""
    if not isinstance(spec, str) or not spec.strip():
        raise UnknownModelError(_known_message(str(spec), "empty model spec"))
    if spec.startswith("torchvision:"):
        _, path, _ = _parse_torchvision(spec)
        if not path.is_file():
            raise UnknownModelError(_known_message(spec, f"weights file {path} does not exist"))
    elif spec.startswith("torchscript:"):
        path, _ = _parse_file_spec(spec, "torchscript:", SIZE_OPTION)
        if not path.is_file():
            raise UnknownModelError(_known_message(spec, f"TorchScript file {path} does not exist"))
    elif spec.startswith("onnx:"):
        path, _ = _parse_file_spec(spec, "onnx:", ONNX_OPTIONS)
        if not path.is_file():
            raise UnknownModelError(_known_message(spec, f"ONNX file {path} does not exist"))
    elif spec.startswith("module:"):
        _resolve_callable(spec)
    elif spec not in known_names():
        raise UnknownModelError(_known_message(spec, "not a registered model"))


def _load_torchvision(spec: str) -> tuple[nn.Module, Callable]:
    import torch
    import torchvision

    from zoo.transforms import imagenet_batch_transform

    arch, path, size = _parse_torchvision(spec)
    if arch not in torchvision.models.list_models():
        raise UnknownModelError(_known_message(spec, f"torchvision has no architecture {arch!r}"))
    state = torch.load(path, map_location="cpu", weights_only=True)
    for wrapper in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(wrapper), dict):
            state = state[wrapper]
    state = {key.removeprefix("module."): value for key, value in state.items()}
    final = [v for k, v in state.items() if k.endswith(".weight") and v.ndim == 2]
    if not final:
        raise ValueError(f"{path}: cannot infer num_classes (no 2-D final layer weight)")
    model = torchvision.models.get_model(arch, weights=None, num_classes=int(final[-1].shape[0]))
    model.load_state_dict(state, strict=True)
    return model, imagenet_batch_transform(size)


def _build(spec: str, device: str) -> tuple[nn.Module, Callable, str, int]:
    """(model, preprocess, source, input size) for any valid spec."""
    from zoo.transforms import cifar_batch_transform

    if spec.startswith("torchvision:"):
        model, preprocess = _load_torchvision(spec)
        return model, preprocess, spec, _parse_torchvision(spec)[2]
    if spec.startswith("torchscript:"):
        import torch

        path, options = _parse_file_spec(spec, "torchscript:", SIZE_OPTION)
        size = int(options.get("size", DEFAULT_INPUT_SIZE))
        return torch.jit.load(str(path), map_location="cpu"), cifar_batch_transform(), spec, size
    if spec.startswith("onnx:"):
        return _load_onnx(spec, device)
    if spec.startswith("module:"):
        made = _resolve_callable(spec)()
        if not isinstance(made, tuple):
            made = (made, cifar_batch_transform())
        size = int(made[2]) if len(made) > 2 else DEFAULT_INPUT_SIZE
        return made[0], made[1], spec, size
    entry = _REGISTRY[spec]
    preprocess = entry.preprocess() if entry.preprocess else cifar_batch_transform()
    return entry.factory(), preprocess, entry.source, entry.input_size


def _load_onnx(spec: str, device: str) -> tuple[nn.Module, Callable, str, int]:
    """An onnxruntime session as a member; its input size is the graph's static one, else
    `?size=N`, else 32."""
    from zoo.onnx_backend import OnnxModule, pixels_identity
    from zoo.transforms import cifar_batch_transform, imagenet_batch_transform

    path, options = _parse_file_spec(spec, "onnx:", ONNX_OPTIONS)
    model = OnnxModule(path, device=device)
    size = model.static_size() or int(options.get("size", DEFAULT_INPUT_SIZE))
    if model.takes_uint8:
        preprocess = pixels_identity
    elif options.get("preprocess") == "imagenet":
        preprocess = imagenet_batch_transform(size)
    else:
        preprocess = cifar_batch_transform()
    return model, preprocess, spec, size


def load_member(spec: str, device: str = "cpu") -> LoadedMember:
    """Load a member by spec, ready for `predict_probs` (eval mode, on `device`)."""
    import torch

    from zoo.hashing import state_sha256

    ensure_known(spec)
    model, preprocess, source, size = _build(spec, device)
    model = model.to(device).eval()
    with torch.inference_mode():
        probe = torch.zeros((1, 3, size, size), dtype=torch.uint8, device=device)
        num_classes = int(model(preprocess(probe)).shape[-1])
    return LoadedMember(
        name=spec,
        model=model,
        preprocess=preprocess,
        weights_sha=getattr(model, "weights_sha256", None) or state_sha256(model),
        source=source,
        num_classes=num_classes,
        device=device,
        input_size=(size, size),
    )


def model_info(name: str) -> ModelInfo:
    """Size and cached accuracy of a registered model (builds the weightless architecture)."""
    from zoo.flops import count_macs, count_params

    ensure_known(name)
    entry = _REGISTRY[name]
    model = (entry.architecture or entry.factory)()
    return ModelInfo(
        name=name,
        params=count_params(model),
        mflops=round(count_macs(model) / 1e6, 2),
        source=entry.source,
        cached_accuracy=entry.cached_accuracy(),
        available=entry.available(),
    )


def list_models() -> list[ModelInfo]:
    """Every registered model with params, MFLOPs (MACs), source and cached test accuracy."""
    return [model_info(name) for name in known_names()]
