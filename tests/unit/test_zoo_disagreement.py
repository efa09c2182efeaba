"""Pairwise disagreement of the pool's models: the matrix on toy predictions, and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from zoo.disagreement import build_report, disagreement_matrix


def test_matrix_on_toy_predictions():
    labels = np.array([[0, 1, 2, 3], [0, 1, 2, 0], [1, 0, 2, 0]])
    matrix = disagreement_matrix(labels)
    expected = np.array([[0.0, 0.25, 0.75], [0.25, 0.0, 0.5], [0.75, 0.5, 0.0]])
    np.testing.assert_allclose(matrix, expected)
    np.testing.assert_allclose(matrix, matrix.T)


def test_matrix_rejects_bad_shapes():
    with pytest.raises(ValueError, match="models, images"):
        disagreement_matrix(np.zeros(3))
    with pytest.raises(ValueError, match="no images"):
        disagreement_matrix(np.zeros((2, 0)))


def test_report_carries_accuracy_and_matrix():
    truth = np.array([0, 1, 1, 0])
    report = build_report(
        {"a": np.array([0, 1, 1, 1]), "b": np.array([0, 0, 1, 0])}, truth, "toy", "test"
    )
    assert report.models == ["a", "b"] and report.n == 4
    assert report.accuracy == {"a": 0.75, "b": 0.75}
    assert report.disagreement == [[0.0, 0.5], [0.5, 0.0]]


def test_cli_disagreement_json(capsys, monkeypatch, tmp_path):
    from coe.cli import main

    monkeypatch.setenv("COE_CACHE", str(tmp_path))
    args = ["zoo", "disagreement", "cnn_a", "cnn_b", "--dataset", "cifar10-lossless-200"]
    assert main([*args, "--split", "all", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["models"] == ["cnn_a", "cnn_b"] and payload["n"] == 200
    matrix = np.array(payload["disagreement"])
    assert matrix.shape == (2, 2) and matrix[0, 0] == 0 and 0 <= matrix[0, 1] <= 1
    assert set(payload["accuracy"]) == {"cnn_a", "cnn_b"}
    assert main([*args, "--split", "all"]) == 0  # table form, labels now cached
    assert "cnn_b" in capsys.readouterr().out
    assert any((tmp_path / "evals" / "labels").iterdir())
