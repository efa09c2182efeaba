"""Knowledge distillation from the pretrained ResNet ensemble into the cheap-tier CNNs.

Teacher: the ensemble of resnet20/32/44/56 (`DEFAULT_TEACHERS`). Its soft label for an
image at temperature T is the **mean of the members' softmax(logits / T)** -- the same
"mean probability" combine a tier uses at T = 1, so a student learns what the expensive
tier would answer. The members' raw logits on the (un-augmented) training split are
computed once and cached as float32 (N, members, classes) under
cache_root()/distill/<key>.npy; the key names the dataset, split and every teacher's
weights sha256, so a different or retrained teacher never reuses a stale file. Any T can
be derived from the cached logits without running a teacher again.

The soft labels belong to the un-augmented images while the student sees random crops and
flips of them; that mismatch is standard practice (a 4-pixel shift or a mirror image hardly
changes what a CIFAR image shows) and running four ResNets per training step on this 2-core
CPU would cost ~8x the student's own training, so the teacher is not run on the fly.

Loss: alpha * KL(teacher_T || student_T) * T^2 + (1 - alpha) * CE(student, label).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from foundation.paths import cache_root

DEFAULT_TEACHERS = ("resnet20", "resnet32", "resnet44", "resnet56")
DEFAULT_TEMPERATURE = 4.0
DEFAULT_ALPHA = 0.8


def soft_label_key(teachers: Sequence[tuple[str, str]], dataset: str, split: str) -> str:
    """Cache key of a teacher ensemble's logits: dataset, split and every (name, weights sha)."""
    digest = hashlib.sha256()
    digest.update(f"{dataset}\n{split}\n".encode())
    for name, sha in teachers:
        digest.update(f"{name}\t{sha}\n".encode())
    return f"{dataset}-{split}-{digest.hexdigest()[:16]}"


def soft_label_file(key: str) -> Path:
    return cache_root() / "distill" / f"{key}.npy"


def teacher_logits(
    teachers: Sequence[str] = DEFAULT_TEACHERS,
    dataset: str = "cifar10-jpeg",
    split: str = "train",
    threads: int = 2,
    batch_size: int = 500,
    progress: bool = True,
) -> tuple[np.ndarray, list[tuple[str, str]]]:
    """Float32 logits (N, len(teachers), C) of each teacher on `split`, cached; + (name, sha)."""
    from tqdm import tqdm

    from zoo.datasets import load_split
    from zoo.registry import load_member

    torch.set_num_threads(threads)
    members = [load_member(name) for name in teachers]
    identity = [(m.name, m.weights_sha) for m in members]
    path = soft_label_file(soft_label_key(identity, dataset, split))
    if path.exists():
        return np.load(path), identity
    data = load_split(dataset, split)
    out = np.empty((len(data), len(members), members[0].num_classes), dtype=np.float32)
    bar = tqdm(
        total=len(data) * len(members), desc="teacher logits", unit="img", disable=not progress
    )
    with torch.inference_mode():
        for j, member in enumerate(members):
            model = member.model.to(memory_format=torch.channels_last)
            for start in range(0, len(data), batch_size):
                chunk = torch.from_numpy(data.images[start : start + batch_size])
                chunk = chunk.permute(0, 3, 1, 2)
                inputs = member.preprocess(chunk).contiguous(memory_format=torch.channels_last)
                out[start : start + batch_size, j] = model(inputs).float().numpy()
                bar.update(len(chunk))
    bar.close()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.npy")
    np.save(tmp, out)
    os.replace(tmp, path)  # atomic: a concurrent reader never sees half a file
    return out, identity


def teacher_probs(logits: np.ndarray | torch.Tensor, temperature: float) -> torch.Tensor:
    """Ensemble soft labels: mean over members (axis 1) of softmax(logits / T), shape (N, C)."""
    z = torch.as_tensor(logits, dtype=torch.float32)
    if z.ndim == 2:  # a single teacher
        z = z[:, None, :]
    return torch.softmax(z / temperature, dim=-1).mean(dim=1)


def distillation_loss(
    student_logits: torch.Tensor,
    soft_targets: torch.Tensor,
    labels: torch.Tensor,
    temperature: float,
    alpha: float,
    label_smoothing: float = 0.0,
) -> torch.Tensor:
    """alpha * KL(soft_targets || softmax(student / T)) * T^2 + (1 - alpha) * CE(student, labels).

    `soft_targets` are the teacher's probabilities at the same temperature T (rows sum to 1).
    The T^2 factor keeps the soft term's gradient scale independent of T (Hinton et al. 2015).
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    hard = F.cross_entropy(student_logits, labels, label_smoothing=label_smoothing)
    if alpha == 0.0:
        return hard
    log_student = F.log_softmax(student_logits / temperature, dim=1)
    soft = F.kl_div(log_student, soft_targets, reduction="batchmean") * temperature**2
    return alpha * soft + (1.0 - alpha) * hard
