import numpy as np
import pytest

from cnnsweep.nn import functions as F


def test_softmax_rows_sum_to_one_and_survive_huge_scores():
    x = np.array([[1000.0, 1001.0, 1002.0], [-5.0, 0.0, 5.0]])
    y = F.softmax(x)
    assert np.all(np.isfinite(y))
    np.testing.assert_allclose(y.sum(axis=1), 1.0)
    # Shift invariance: the first row equals the softmax of (0, 1, 2).
    np.testing.assert_allclose(y[0], np.exp([0, 1, 2]) / np.exp([0, 1, 2]).sum())


def test_cross_entropy_index_and_one_hot_labels_agree():
    rng = np.random.default_rng(0)
    y = F.softmax(rng.standard_normal((7, 4)))
    t = rng.integers(0, 4, 7)
    expected = -np.mean(np.log(y[np.arange(7), t] + 1e-7))
    assert F.cross_entropy(y, t) == pytest.approx(expected)
    assert F.cross_entropy(y, np.eye(4)[t]) == pytest.approx(expected)


def test_cross_entropy_single_sample():
    y = np.array([0.1, 0.7, 0.2])
    assert F.cross_entropy(y, 1) == pytest.approx(-np.log(0.7 + 1e-7))
    assert F.cross_entropy(y, np.array([0, 1, 0])) == pytest.approx(-np.log(0.7 + 1e-7))


def test_sigmoid_matches_its_definition_and_stays_finite():
    x = np.array([-800.0, -2.0, 0.0, 3.0, 800.0])
    s = F.sigmoid(x)
    assert np.all(np.isfinite(s))
    np.testing.assert_allclose(s[1:4], 1 / (1 + np.exp(-x[1:4])))
    assert s[0] == 0.0 and s[-1] == 1.0
