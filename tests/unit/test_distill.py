"""Distillation: the loss on tiny tensors, ensemble soft labels, and the soft-label cache key."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from zoo import distill
from zoo.distill import distillation_loss, soft_label_key, teacher_logits, teacher_probs

LOGITS = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]])
LABELS = torch.tensor([0, 2])


def test_alpha_zero_is_plain_cross_entropy():
    soft = torch.full((2, 3), 1 / 3)
    loss = distillation_loss(LOGITS, soft, LABELS, temperature=4.0, alpha=0.0)
    assert torch.allclose(loss, F.cross_entropy(LOGITS, LABELS))


def test_soft_term_is_zero_when_the_student_matches_the_teacher():
    teacher = torch.softmax(LOGITS / 3.0, dim=1)
    loss = distillation_loss(LOGITS, teacher, LABELS, temperature=3.0, alpha=1.0)
    assert abs(loss.item()) < 1e-6


def test_loss_matches_the_formula_by_hand():
    t, alpha = 2.0, 0.7
    teacher = torch.tensor([[0.6, 0.3, 0.1], [0.2, 0.2, 0.6]])
    student = torch.softmax(LOGITS / t, dim=1)
    kl = (teacher * (teacher.log() - student.log())).sum(1).mean()
    ce = -torch.log_softmax(LOGITS, 1)[torch.arange(2), LABELS].mean()
    expected = alpha * kl * t**2 + (1 - alpha) * ce
    loss = distillation_loss(LOGITS, teacher, LABELS, temperature=t, alpha=alpha)
    assert torch.allclose(loss, expected, atol=1e-6)


def test_loss_has_gradients_and_rejects_bad_arguments():
    student = LOGITS.clone().requires_grad_(True)
    teacher = torch.tensor([[0.6, 0.3, 0.1], [0.2, 0.2, 0.6]])
    distillation_loss(student, teacher, LABELS, temperature=4.0, alpha=0.5).backward()
    assert student.grad is not None and student.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="alpha"):
        distillation_loss(LOGITS, teacher, LABELS, temperature=4.0, alpha=1.5)
    with pytest.raises(ValueError, match="temperature"):
        distillation_loss(LOGITS, teacher, LABELS, temperature=0.0, alpha=0.5)


def test_teacher_probs_average_the_members_softmax_at_temperature():
    logits = np.array([[[4.0, 0.0], [0.0, 4.0]], [[2.0, 0.0], [2.0, 0.0]]], dtype=np.float32)
    probs = teacher_probs(logits, temperature=2.0)
    assert probs.shape == (2, 2)
    assert torch.allclose(probs[0], torch.tensor([0.5, 0.5]))
    assert torch.allclose(probs[1], torch.softmax(torch.tensor([1.0, 0.0]), 0))
    assert torch.allclose(probs.sum(1), torch.ones(2))
    single = teacher_probs(logits[:, 0, :], temperature=1.0)  # (N, C): one teacher
    assert torch.allclose(single, torch.softmax(torch.from_numpy(logits[:, 0, :]), 1))


def test_soft_label_key_names_every_teacher_sha_and_the_split():
    teachers = [("resnet20", "a" * 64), ("resnet32", "b" * 64)]
    key = soft_label_key(teachers, "cifar10-jpeg", "train")
    assert key == soft_label_key(list(teachers), "cifar10-jpeg", "train")
    assert key.startswith("cifar10-jpeg-train-")
    retrained = [("resnet20", "a" * 64), ("resnet32", "c" * 64)]
    assert soft_label_key(retrained, "cifar10-jpeg", "train") != key
    assert soft_label_key(teachers, "cifar10-jpeg", "test") != key
    assert soft_label_key(teachers[:1], "cifar10-jpeg", "train") != key


class _Toy(nn.Module):
    calls = 0

    def __init__(self, scale: float):
        super().__init__()
        self.linear = nn.Linear(3, 4)
        with torch.no_grad():
            self.linear.weight.fill_(scale)
            self.linear.bias.fill_(-scale)

    def forward(self, x):
        _Toy.calls += 1
        return self.linear(x.mean(dim=(2, 3)))


def make_toy_one():
    return _Toy(0.1)


def make_toy_two():
    return _Toy(0.2)


def test_teacher_logits_are_cached_per_teacher_set(monkeypatch, tmp_path):
    from zoo.datasets import Split

    monkeypatch.setenv("COE_CACHE", str(tmp_path))
    images = np.random.default_rng(0).integers(0, 256, (6, 32, 32, 3), dtype=np.uint8)
    split = Split("toy", "train", images, np.zeros(6, dtype=np.int64), ("a",), ("p",) * 6)
    monkeypatch.setattr("zoo.datasets.load_split", lambda dataset, name: split)
    teachers = (f"module:{__name__}:make_toy_one", f"module:{__name__}:make_toy_two")
    logits, identity = teacher_logits(teachers, "toy", "train", threads=1, progress=False)
    assert logits.shape == (6, 2, 4) and logits.dtype == np.float32
    assert [name for name, _ in identity] == list(teachers)
    path = distill.soft_label_file(soft_label_key(identity, "toy", "train"))
    assert path.exists() and path.parent == tmp_path / "distill"
    calls = _Toy.calls
    again, _ = teacher_logits(teachers, "toy", "train", threads=1, progress=False)
    assert np.array_equal(again, logits)
    assert _Toy.calls == calls + 2  # only load_member's probe per teacher, no batch re-run
    _, other = teacher_logits(teachers[:1], "toy", "train", threads=1, progress=False)
    assert distill.soft_label_file(soft_label_key(other, "toy", "train")) != path
