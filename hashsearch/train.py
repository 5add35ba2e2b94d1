"""Training the binary autoencoder: the objectives (variants) and the loop. Torch-only module."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .config import Corruption, TrainConfig, Variant
from .model import Bag, BinaryAutoencoder, as_dense, as_tensor


@dataclass
class TrainReport:
    seconds: float
    final_loss: float
    train_docs: int


def knn_graph(x: np.ndarray | object, k: int, chunk: int = 2048) -> np.ndarray:
    """Indices (n, k) of each row's k nearest other rows by cosine similarity (exact)."""
    import faiss

    n = x.shape[0]  # type: ignore[attr-defined]
    k = max(1, min(k, n - 1))
    if hasattr(x, "toarray"):  # sparse: chunked sparse products
        import scipy.sparse as sp

        xs = sp.csr_matrix(x, dtype=np.float32)
        norms = np.sqrt(np.asarray(xs.multiply(xs).sum(1)).ravel()).astype(np.float32)
        norms[norms == 0] = 1
        xs = sp.csr_matrix(sp.diags(1 / norms) @ xs)
        out = np.empty((n, k), dtype=np.int64)
        for s in range(0, n, chunk):
            sims = (xs[s : s + chunk] @ xs.T).toarray()
            sims[np.arange(len(sims)), np.arange(s, s + len(sims))] = -np.inf
            part = np.argpartition(-sims, k, axis=1)[:, :k]
            o = np.argsort(-np.take_along_axis(sims, part, 1), axis=1, kind="stable")
            out[s : s + chunk] = np.take_along_axis(part, o, 1)
        return out
    xd = np.ascontiguousarray(as_dense(x))
    xd = xd / np.maximum(np.linalg.norm(xd, axis=1, keepdims=True), 1e-12)
    index = faiss.IndexFlatIP(xd.shape[1])
    index.add(xd)
    _, nn_ = index.search(xd, k + 1)
    out = np.empty((n, k), dtype=np.int64)
    for i in range(n):  # drop self wherever it appears (duplicates may come first)
        row = nn_[i][nn_[i] != i]
        out[i] = row[:k] if len(row) >= k else np.resize(row if len(row) else np.array([i]), k)
    return out


def corrupt(x: torch.Tensor | Bag, kind: Corruption, level: float, gen: torch.Generator) -> torch.Tensor | Bag:
    """Denoising corruption of standardised-scale inputs."""
    if level <= 0:
        return x
    if isinstance(x, Bag):  # bag of words: corrupt the words that are there
        v = x.weights
        if kind == Corruption.GAUSSIAN:
            v = v + level * v.std() * torch.randn(v.shape, generator=gen)
        else:  # mask and salt-and-pepper both drop words
            v = v * (torch.rand(v.shape, generator=gen) >= level)
        return x.with_weights(v)
    if kind == Corruption.GAUSSIAN:
        return x + level * x.std() * torch.randn(x.shape, generator=gen)
    keep = torch.rand(x.shape, generator=gen) >= level
    if kind == Corruption.MASK:
        return x * keep
    # salt and pepper: corrupted entries go to the row's min or max
    hi = torch.rand(x.shape, generator=gen) < 0.5
    lo_v, hi_v = x.min(1, keepdim=True).values, x.max(1, keepdim=True).values
    return torch.where(keep, x, torch.where(hi, hi_v.expand_as(x), lo_v.expand_as(x)))


def _recon_loss(model: BinaryAutoencoder, rec: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    if model.bow:
        p = x / x.sum(1, keepdim=True).clamp_min(1e-8)
        return -(p * F.log_softmax(rec, 1)).sum(1).mean()
    return F.mse_loss(rec, model.standardize(x))


def _balance_loss(u: torch.Tensor) -> torch.Tensor:
    """Bits used half the time and uncorrelated with each other."""
    mean = u.mean(0)
    c = (u - mean).T @ (u - mean) / max(1, len(u) - 1)
    off = c - torch.diag(torch.diag(c))
    return (mean**2).mean() + (off**2).sum() / (u.shape[1] * max(1, u.shape[1] - 1))


def _adjacency(neighbors: np.ndarray) -> object:
    """Symmetric kNN graph with self-loops, as a sparse matrix (rows: documents)."""
    import scipy.sparse as sp

    n, k = neighbors.shape
    a = sp.csr_matrix((np.ones(n * k, np.float32), neighbors.ravel(), np.arange(0, n * k + 1, k)), shape=(n, n))
    return (a + a.T + sp.identity(n, format="csr")).tocsr()


def _multi_positive_nce(u: torch.Tensor, positives: torch.Tensor, temperature: float) -> torch.Tensor:
    """InfoNCE where every graph neighbour present in the batch counts as a positive, not a negative."""
    u = F.normalize(u, dim=1)
    logits = u @ u.T / temperature
    eye = torch.eye(len(u), dtype=torch.bool)
    logits = logits.masked_fill(eye, float("-inf"))
    pos = positives & ~eye
    log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    pos_lp = torch.logsumexp(log_prob.masked_fill(~pos, float("-inf")), dim=1)
    has = pos.any(1)
    return -(pos_lp[has]).mean()


def _info_nce(a: torch.Tensor, b: torch.Tensor, temperature: float) -> torch.Tensor:
    a, b = F.normalize(a, dim=1), F.normalize(b, dim=1)
    logits = a @ b.T / temperature
    target = torch.arange(len(a))
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


@torch.no_grad()
def calibrate(model: BinaryAutoencoder, x: np.ndarray | object, batch_size: int = 8192) -> None:
    """Set each bit's threshold to the median of its pre-activation over the training rows, so
    every bit is one for half the corpus, and its scale to the spread (for the tanh latent)."""
    model.eval()
    pre = []
    for s in range(0, x.shape[0], batch_size):  # type: ignore[attr-defined]
        pre.append(model.pre_activations(as_tensor(x[s : s + batch_size])))  # type: ignore[index]
    h = torch.cat(pre)
    model.norm.running_mean.copy_(h.median(0).values)
    model.norm.running_var.copy_(h.var(0).clamp_min(1e-8))


def _optimizer(model: BinaryAutoencoder, cfg: TrainConfig) -> torch.optim.Optimizer:
    """AdamW. A bag-of-words model's first layer has vocabulary x hidden weights: the fused kernel
    updates them several times faster (dense inputs keep the reference implementation)."""
    if model.bow:
        try:
            return torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, fused=True)
        except (RuntimeError, TypeError):  # a build without the fused CPU kernel
            pass
    return torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)


def _train_round(
    model: BinaryAutoencoder,
    x: np.ndarray | object,
    neighbors: np.ndarray | None,
    cfg: TrainConfig,
    epochs: int,
    bs: int,
    rng: np.random.Generator,
    gen: torch.Generator,
    bar: object | None,
    on_epoch: Callable[[int, float], None] | None,
) -> float:
    """One optimisation run (AdamW, cosine schedule) over ``epochs``; returns the last epoch's loss."""
    n = x.shape[0]  # type: ignore[attr-defined]
    adjacency = _adjacency(neighbors) if (neighbors is not None and cfg.multi_positive) else None
    opt = _optimizer(model, cfg)
    steps_per_epoch = max(1, n // bs)
    total = epochs * steps_per_epoch
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, total) / total)))
    stochastic = cfg.variant == Variant.VARIATIONAL
    noisy = cfg.variant in (Variant.DENOISING, Variant.NEIGHBOR, Variant.DISTILL)

    def rows_of(idx: np.ndarray) -> Any:
        return as_tensor(x[idx])  # type: ignore[index]

    def dense(t: Any) -> torch.Tensor:
        return t.to_dense() if t.is_sparse else t

    last = float("nan")
    model.train()
    for epoch in range(epochs):
        perm = rng.permutation(n)
        running = 0.0
        for s in range(steps_per_epoch):
            idx = perm[s * bs : (s + 1) * bs]
            xb = rows_of(idx)
            xin = corrupt(xb, cfg.corruption, cfg.noise, gen) if noisy else xb
            z = model.logits(xin)
            b = model.binarize(z, stochastic=stochastic)
            loss = torch.zeros(())
            if cfg.recon_weight > 0:
                loss = loss + cfg.recon_weight * _recon_loss(model, model.decode(b), dense(xb))
            u = torch.tanh(z)
            if cfg.balance_weight > 0:
                loss = loss + cfg.balance_weight * _balance_loss(u)
            if cfg.distill_weight > 0:  # keep the float geometry: code cosines follow feature cosines
                un = F.normalize(u, dim=1)
                xn = F.normalize(model.standardize(dense(xb)), dim=1)
                loss = loss + cfg.distill_weight * F.mse_loss(un @ un.T, xn @ xn.T)
            if stochastic and cfg.kl_weight > 0:
                p = torch.sigmoid(z).clamp(1e-6, 1 - 1e-6)
                kl = (p * torch.log(2 * p) + (1 - p) * torch.log(2 * (1 - p))).sum(1).mean()
                loss = loss + cfg.kl_weight * kl
            if neighbors is not None and cfg.contrastive_weight > 0:
                pos = neighbors[idx, rng.integers(0, neighbors.shape[1], len(idx))]
                xp = rows_of(pos)
                if cfg.mix_positive > 0 and not xp.is_sparse:  # between the anchor and its neighbour
                    lam = 1 - cfg.mix_positive * torch.rand((len(idx), 1), generator=gen)
                    xp = lam * xp + (1 - lam) * xb
                zp = model.logits(corrupt(xp, cfg.corruption, cfg.noise, gen))
                if cfg.hard_contrastive:  # compare the binary codes themselves (straight-through)
                    pair = (b, model.binarize(zp))
                else:
                    pair = (u, torch.tanh(zp))
                if adjacency is not None:
                    both = np.concatenate([idx, pos])
                    mask = torch.as_tensor(adjacency[both][:, both].toarray() > 0)
                    loss = loss + cfg.contrastive_weight * _multi_positive_nce(torch.cat(pair), mask, cfg.temperature)
                else:
                    loss = loss + cfg.contrastive_weight * _info_nce(*pair, cfg.temperature)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            running += float(loss.detach())
        last = running / steps_per_epoch
        if bar is not None:
            bar.update(1)  # type: ignore[attr-defined]
            bar.set_postfix(loss=f"{last:.4f}")  # type: ignore[attr-defined]
        if on_epoch is not None:
            on_epoch(epoch, last)
    return last


def training_rows(n: int, cfg: TrainConfig, rng: np.random.Generator | None = None) -> np.ndarray | None:
    """Sorted rows of an ``n``-document corpus that training uses (None: all of them)."""
    if n <= cfg.max_train_docs:
        return None
    rng = rng if rng is not None else np.random.default_rng(cfg.seed)
    return np.sort(rng.choice(n, cfg.max_train_docs, replace=False))


def train_autoencoder(
    x: np.ndarray | object,
    bits: int,
    cfg: TrainConfig,
    bow: bool = False,
    progress: bool = False,
    on_epoch: Callable[[int, float], None] | None = None,
    sampled_from: int | None = None,
) -> tuple[BinaryAutoencoder, TrainReport]:
    """Train a model on rows ``x`` (dense array or scipy sparse). Deterministic for a seed.

    A corpus above ``cfg.max_train_docs`` trains on the sample :func:`training_rows` picks.
    ``sampled_from=N``: ``x`` already is that sample of an N-document corpus (a distributed build
    gathers only those rows); the model is then the same as when given all N rows.
    """
    t0 = time.perf_counter()
    torch.manual_seed(cfg.seed)
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    rng = np.random.default_rng(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    n_all = x.shape[0] if sampled_from is None else sampled_from  # type: ignore[attr-defined]
    if n_all < 2:
        raise ValueError("training needs at least 2 documents")
    rows = training_rows(n_all, cfg, rng)
    if rows is not None and sampled_from is None:
        x = x[rows]  # type: ignore[index]
    if x.shape[0] != (n_all if rows is None else len(rows)):  # type: ignore[attr-defined]
        raise ValueError("x is not the training sample of the corpus it was drawn from")
    n = x.shape[0]  # type: ignore[attr-defined]
    dense = not hasattr(x, "toarray")
    model = BinaryAutoencoder(x.shape[1], bits, cfg.hidden, bow=bow)  # type: ignore[attr-defined]
    if dense and not bow:
        xd = as_dense(x)
        std = xd.std(0)
        # floor the scale: a (near-)constant dimension must not blow up unseen inputs
        model.set_input_stats(xd.mean(0), np.maximum(std, 0.1 * float(std.mean()) + 1e-12))
    neighbors = knn_graph(x, cfg.neighbors) if cfg.variant == Variant.NEIGHBOR else None
    bs = min(cfg.batch_size, n)
    steps_per_epoch = max(1, n // bs)
    # small corpora get at least min_steps updates: a 40-document index still trains properly
    epochs = max(cfg.epochs, math.ceil(cfg.min_steps / steps_per_epoch))
    # large corpora: the sample is big enough that fewer passes over it suffice
    epochs = max(1, min(epochs, math.ceil(cfg.max_steps / steps_per_epoch)))
    rounds = cfg.rounds if neighbors is not None else 1
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=epochs * rounds, desc="training", unit="epoch")
    last = float("nan")
    for r in range(rounds):
        if r > 0:  # refine the graph: neighbours in the learned latent space are purer than in the input's
            calibrate(model, x)
            neighbors = knn_graph(model.encode(x)[1], cfg.neighbors)
        last = _train_round(model, x, neighbors, cfg, epochs, bs, rng, gen, bar, on_epoch)
    if bar is not None:
        bar.close()
    calibrate(model, x)
    return model, TrainReport(time.perf_counter() - t0, last, n)
