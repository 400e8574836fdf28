"""Linear CKA (probes/cka.py) against the kernel form of Kornblith et al. 2019, and its invariances."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import ortho_group

from layerprobe.probes.cka import centered, cka_matrix, cka_rows, linear_cka


def hsic_cka(X: np.ndarray, Y: np.ndarray) -> float:
    """CKA as the paper writes it: HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L)), linear kernels K = XX', L = YY',
    HSIC(K, L) = tr(KHLH) / (n - 1)^2 with the centring matrix H = I - 11'/n."""
    n = len(X)
    H = np.eye(n) - np.ones((n, n)) / n
    K, L = X @ X.T, Y @ Y.T

    def hsic(A, B):
        return np.trace(A @ H @ B @ H) / (n - 1) ** 2

    return hsic(K, L) / np.sqrt(hsic(K, K) * hsic(L, L))


@pytest.fixture
def layers():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 7)) + 3.0  # an offset: centring must remove it
    Y = X[:, :4] @ rng.normal(size=(4, 5)) + 0.5 * rng.normal(size=(40, 5))
    Z = rng.normal(size=(40, 12))
    return X, Y, Z


def test_linear_cka_equals_the_hsic_form_with_centring_matrices(layers):
    X, Y, Z = layers
    for A, B in [(X, Y), (X, Z), (Y, Z)]:
        assert linear_cka(A, B) == pytest.approx(hsic_cka(A, B), rel=1e-5)
    assert 0.3 < linear_cka(X, Y) and linear_cka(X, Z) < linear_cka(X, Y)  # a related pair beats an unrelated one


def test_a_layer_with_itself_is_one_and_the_map_is_symmetric(layers):
    found = cka_matrix([centered(layer) for layer in layers])
    np.testing.assert_allclose(np.diag(found), 1.0, rtol=1e-6)
    np.testing.assert_allclose(found, found.T)
    assert found[0, 1] == pytest.approx(hsic_cka(layers[0], layers[1]), rel=1e-5)


def test_invariant_to_orthogonal_transforms_and_isotropic_scaling(layers):
    X, Y, _ = layers
    Q = ortho_group.rvs(7, random_state=1)
    assert linear_cka(X @ Q * 5.0, Y) == pytest.approx(linear_cka(X, Y), rel=1e-5)
    assert linear_cka(X, X @ Q * 0.01) == pytest.approx(1.0, rel=1e-5)
    # but not to an anisotropic scaling, which CKA is meant to see
    assert linear_cka(X, X * np.arange(1, 8)) < 0.99


def test_a_constant_layer_resembles_nothing():
    rng = np.random.default_rng(2)
    found = cka_matrix([centered(np.ones((10, 3))), centered(rng.normal(size=(10, 3)))])
    assert found[0, 0] == found[0, 1] == 0.0 and found[1, 1] == pytest.approx(1.0)


def test_cka_rows_takes_every_row_up_to_the_limit_else_a_seeded_sorted_draw():
    np.testing.assert_array_equal(cka_rows(5, seed=0, limit=10), np.arange(5))
    drawn = cka_rows(100, seed=3, limit=10)
    assert len(set(drawn)) == 10 and np.all(np.diff(drawn) > 0)
    np.testing.assert_array_equal(drawn, cka_rows(100, seed=3, limit=10))
    assert not np.array_equal(drawn, cka_rows(100, seed=4, limit=10))
