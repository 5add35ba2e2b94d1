from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from conftest import clustered
from hashsearch import Corruption, TrainConfig, Variant
from hashsearch import codes as bc
from hashsearch.evaluation import hamming_knn, precision_at_k
from hashsearch.train import corrupt, knn_graph, train_autoencoder

BASE = TrainConfig(epochs=3, hidden=(64, 32), batch_size=64, neighbors=5, min_steps=150)


def test_knn_graph_dense_and_sparse_equal_brute_force():
    x, _ = clustered(200, dim=12, seed=5)
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    sims = xn @ xn.T
    np.fill_diagonal(sims, -np.inf)
    ref = np.argsort(-sims, axis=1, kind="stable")[:, :6]
    g = knn_graph(x, 6)
    assert (g == ref).mean() > 0.99  # float ties aside
    gs = knn_graph(sp.csr_matrix(np.abs(x)), 6)
    a = np.abs(x) / np.linalg.norm(np.abs(x), axis=1, keepdims=True)
    s2 = a @ a.T
    np.fill_diagonal(s2, -np.inf)
    assert (gs == np.argsort(-s2, axis=1, kind="stable")[:, :6]).mean() > 0.99
    assert not np.any(g == np.arange(200)[:, None])


@pytest.mark.parametrize("kind", list(Corruption))
def test_corruptions_change_inputs(kind):
    x = torch.randn(32, 20)
    y = corrupt(x, kind, 0.3, torch.Generator().manual_seed(0))
    assert y.shape == x.shape and not torch.equal(x, y)
    assert torch.equal(corrupt(x, kind, 0.0, torch.Generator()), x)


@pytest.mark.parametrize("variant", list(Variant))
def test_every_variant_trains_balanced_non_constant_codes(variant):
    x, _ = clustered(300, dim=16, seed=2)
    m, rep = train_autoencoder(x, 16, replace(BASE, variant=variant))
    signs, latent = m.encode(x)
    share = signs.mean(0)
    assert np.all((share > 0.3) & (share < 0.7))  # thresholds at each bit's median
    assert len(np.unique(bc.pack(signs), axis=0)) > 20
    assert np.isfinite(rep.final_loss) and latent.shape == (300, 16)
    assert np.all(np.isfinite(m.reconstruction_error(x)))


def test_bow_variational_on_sparse_input():
    rng = np.random.default_rng(0)
    counts = sp.random(200, 300, density=0.05, random_state=1, format="csr", dtype=np.float32)
    counts.data = rng.integers(1, 5, len(counts.data)).astype(np.float32)
    m, _ = train_autoencoder(counts, 8, replace(BASE, variant=Variant.VARIATIONAL), bow=True)
    s, _ = m.encode(counts)
    assert s.shape == (200, 8) and 0 < s.mean() < 1


def test_neighbor_objective_beats_reconstruction_only_on_clusters():
    x, y = clustered(800, dim=32, clusters=10, seed=7)
    x += 2.5 * np.random.default_rng(1).standard_normal(x.shape).astype(np.float32)  # overlapping clusters
    p = {}
    for v in (Variant.PLAIN, Variant.NEIGHBOR):
        m, _ = train_autoencoder(x[:600], 16, replace(BASE, variant=v, epochs=8))
        tr, te = bc.pack(m.encode(x[:600])[0]), bc.pack(m.encode(x[600:])[0])
        p[v] = precision_at_k(hamming_knn(te, tr, 20), y[600:], y[:600], 20)
    assert p[Variant.NEIGHBOR] >= p[Variant.PLAIN]


def test_multi_positive_and_rounds_run():
    x, _ = clustered(200, dim=16, seed=3)
    m, _ = train_autoencoder(x, 8, replace(BASE, multi_positive=True, rounds=2))
    assert len(np.unique(bc.pack(m.encode(x)[0]), axis=0)) > 8


def test_bag_of_words_layer_equals_the_dense_product_and_loads_old_layouts(tmp_path):
    """The bag-of-words first layer (embedding_bag over the present words) computes x @ W + b,
    sparse or dense, and a model saved with the former (out, in) dense layout still loads."""
    from safetensors.torch import load_file, save_file

    from hashsearch.model import BinaryAutoencoder, as_tensor

    x = sp.random(30, 50, density=0.1, format="csr", random_state=1, dtype=np.float32)
    m = BinaryAutoencoder(50, 16, (24, 12), bow=True).eval()
    with torch.no_grad():
        sparse_out = m.encoder[0](as_tensor(x))
        dense_out = m.encoder[0](torch.as_tensor(x.toarray()))
    assert torch.allclose(sparse_out, dense_out, atol=1e-5)
    assert as_tensor(x).to_dense().numpy().tolist() == x.toarray().tolist()
    signs = m.encode(x)[0]
    m.save(tmp_path)
    state = load_file(str(tmp_path / "model.safetensors"))
    state["encoder.0.weight"] = state["encoder.0.weight"].t().contiguous()  # the old (out, in) layout
    save_file(state, str(tmp_path / "model.safetensors"))
    again = BinaryAutoencoder.load(tmp_path, 50, 16, (24, 12), bow=True)
    assert np.array_equal(again.encode(x)[0], signs)
