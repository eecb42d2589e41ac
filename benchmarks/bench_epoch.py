"""Seconds per training epoch: nettrain vs the pure GEMMs, PyTorch CPU and scikit-learn.

Every contender trains the same MLP (784-256-128-10 on MNIST-shaped data, and a small
30-64-64-2 tabular net) with Adam (lr 0.001) in float32 on the same data and batch size,
one epoch per timing. Repeats are interleaved (each round times every contender once, in
a rotating order) and the table shows medians, so a slow minute on a shared machine
hits all columns alike. Run from the repository root:

    python benchmarks/bench_epoch.py                # the full table (a few minutes)
    python benchmarks/bench_epoch.py --repeats 3 --batches 128 --nets mnist
    python benchmarks/bench_epoch.py --nets mnist --only "8 GEMMs,torch 8 GEMMs"
"""

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import MNIST_LAYERS, TABULAR_LAYERS, median, mnist_data, tabular_data, timed  # noqa: E402

LR = 1e-3


class Nettrain:
    """One epoch of nettrain's own training loop: Trainer.fit for one epoch on a kept model."""

    label = "nettrain"

    def __init__(self, X, y, layers, batch):
        from nettrain.nn.losses import CrossEntropyLoss
        from nettrain.nn.model import Model
        from nettrain.nn.optimizers import Adam

        self.model = Model(layers, X.shape[1], dtype="float32", rng=0)
        self.loss, self.optimizer = CrossEntropyLoss(), Adam(lr=LR)
        self.rng, self.batch, self.data = np.random.default_rng(0), batch, (X, y)

    def epoch(self):
        from nettrain.training.trainer import Trainer

        Trainer(self.model, self.loss, self.optimizer, epochs=1, batch_size=self.batch,
                shuffle=True, rng=self.rng).train(self.data)


class Gemm:
    """The 8 matrix products of one forward + backward pass per batch, and nothing else."""

    label = "8 GEMMs"

    def __init__(self, X, y, layers, batch):
        rng = np.random.default_rng(0)
        sizes = [X.shape[1]] + [spec["units"] for spec in layers]
        self.W = [rng.standard_normal((a, b), dtype=np.float32) * 0.05 for a, b in zip(sizes, sizes[1:])]
        self.dW = [np.empty_like(w) for w in self.W]
        self.h = [np.empty((batch, b), np.float32) for b in sizes[1:]]
        self.d = [np.empty((batch, b), np.float32) for b in sizes[1:]]
        self.X, self.batch = X, batch

    def epoch(self):
        from nettrain.backend import blas_threads

        with blas_threads(self.batch):  # the thread count nettrain trains this batch size with
            self._products(np.matmul)

    def _products(self, matmul):
        W, dW, h, d, n = self.W, self.dW, self.h, self.d, len(self.X)
        for start in range(0, n, self.batch):
            x = self.X[start:start + self.batch]
            m = len(x)
            outs, deltas = [a[:m] for a in h], [a[:m] for a in d]
            inputs = [x] + outs[:-1]
            for i, w in enumerate(W):
                matmul(inputs[i], w, out=outs[i])
            deltas[-1][...] = outs[-1]
            for i in reversed(range(len(W))):
                matmul(inputs[i].T, deltas[i], out=dW[i])
                if i:
                    matmul(deltas[i], W[i].T, out=deltas[i - 1])


class TorchGemm(Gemm):
    """The same 8 products in torch (its BLAS, its default thread count): how much of the gap
    to torch is the matrix library alone."""

    label = "torch 8 GEMMs"

    def __init__(self, X, y, layers, batch):
        import torch

        super().__init__(X, y, layers, batch)
        self.torch = torch
        self.W, self.dW, self.h, self.d = ([torch.from_numpy(a) for a in arrays]
                                           for arrays in (self.W, self.dW, self.h, self.d))
        self.X = torch.from_numpy(X)

    def epoch(self):
        self._products(self.torch.matmul)


class Torch:
    """PyTorch eager on the CPU: nn.Sequential of Linear/ReLU, cross_entropy, Adam."""

    # torch's CPU default is the per-parameter loop; flush_denormal (FTZ/DAZ) reaches only the
    # calling thread, so it pays off fully with one thread: Adam moments of weights whose
    # gradient stops (blank pixels, dead units) decay into slow subnormal floats otherwise.
    variants = {"torch default Adam": {}, "torch foreach Adam": {"foreach": True},
                "torch fused Adam": {"fused": True},
                "torch fused FTZ": {"fused": True}, "torch fused FTZ 1 thread": {"fused": True}}

    def __init__(self, X, y, layers, batch, label):
        import torch

        torch.manual_seed(0)
        modules, n_in = [], X.shape[1]
        for spec in layers:
            modules.append(torch.nn.Linear(n_in, spec["units"]))
            if spec.get("activation") == "relu":
                modules.append(torch.nn.ReLU())
            n_in = spec["units"]
        self.torch, self.label, self.batch = torch, label, batch
        self.model = torch.nn.Sequential(*modules)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=LR, **self.variants[label])
        self.threads = 1 if label.endswith("1 thread") else torch.get_num_threads()
        self.flush = "FTZ" in label  # torch.set_flush_denormal(True) while it trains
        self.X, self.y = torch.from_numpy(X), torch.from_numpy(y)
        self.gen = torch.Generator().manual_seed(0)

    def epoch(self):
        default = self.torch.get_num_threads()
        self.torch.set_num_threads(self.threads)
        self.torch.set_flush_denormal(self.flush)
        try:
            self._train()
        finally:
            self.torch.set_num_threads(default)
            self.torch.set_flush_denormal(False)  # the thread's float mode, for the others

    def _train(self):
        torch, model, opt = self.torch, self.model, self.opt
        order = torch.randperm(len(self.X), generator=self.gen)
        for start in range(0, len(self.X), self.batch):
            index = order[start:start + self.batch]
            opt.zero_grad(set_to_none=True)
            loss = torch.nn.functional.cross_entropy(model(self.X[index]), self.y[index])
            loss.backward()
            opt.step()


class Sklearn:
    """scikit-learn's MLPClassifier, one epoch per partial_fit (its Adam, alpha=0, float32)."""

    label = "scikit-learn"

    def __init__(self, X, y, layers, batch):
        from sklearn.neural_network import MLPClassifier

        hidden = tuple(spec["units"] for spec in layers[:-1])
        self.clf = MLPClassifier(hidden_layer_sizes=hidden, solver="adam", alpha=0.0,
                                 batch_size=batch, learning_rate_init=LR, random_state=0)
        self.X, self.y = X, y
        self.clf.partial_fit(X[:batch], y[:batch], classes=np.unique(y))

    def epoch(self):
        self.clf.partial_fit(self.X, self.y)


# Off unless named by --only: interleaved with NumPy's runs, torch's threads and OpenBLAS's
# (which spin for a while after each product) contend for the cores, so this column is
# only meaningful timed alone, e.g. --only "8 GEMMs,torch 8 GEMMs".
ONLY_ON_REQUEST = ("torch 8 GEMMs",)


def contenders(X, y, layers, batch, skip, only=None):
    """(label, object with .epoch() or the reason it is missing) for each column."""
    out = [("nettrain", Nettrain), ("8 GEMMs", Gemm), ("torch 8 GEMMs", TorchGemm)]
    out += [(label, lambda *a, label=label: Torch(*a, label)) for label in Torch.variants]
    out += [("scikit-learn", Sklearn)]
    made = []
    for label, make in out:
        wanted = label in only if only else label not in ONLY_ON_REQUEST
        if label in skip or not wanted:
            continue
        try:
            made.append((label, make(X, y, layers, batch)))
        except ImportError as err:
            made.append((label, f"not installed ({err.name})"))
    return made


def run(args):
    nets = {"mnist": ("784-256-128-10", mnist_data, MNIST_LAYERS),
            "tabular": ("30-64-64-2", tabular_data, TABULAR_LAYERS)}
    cases, sources = [], []
    for name in args.nets:
        arch, load, layers = nets[name]
        X, y, source = load(args.samples, real=not args.random)
        sources.append(source)
        for batch in args.batches:
            made = contenders(X, y, layers, batch, args.skip, args.only)
            for _, c in made:  # warm-up: first-call allocations, lazy inits, page faults
                if not isinstance(c, str):
                    c.epoch()
            cases.append((arch, batch, made, {label: [] for label, _ in made}))
    for rep in range(args.repeats):
        for arch, batch, made, times in cases:
            k = rep % len(made)
            for label, c in made[k:] + made[:k]:
                if not isinstance(c, str):
                    times[label].append(timed(c.epoch))
        print(f"round {rep + 1}/{args.repeats} done", file=sys.stderr, flush=True)
    return cases, sources


def header(sources, args):
    lines = [f"data: {', '.join(sources)}; float32; Adam lr {LR}; {args.repeats} interleaved repeats, "
             f"medians of seconds per epoch"]
    versions = [f"numpy {np.__version__}"]
    for module in ("torch", "sklearn"):
        try:
            mod = __import__(module)
            versions.append(f"{module} {mod.__version__}")
            if module == "torch":
                versions.append(f"torch threads {mod.get_num_threads()}")
        except ImportError:
            versions.append(f"{module} not installed")
    lines.append(", ".join(versions) + f"; {os.cpu_count()} CPUs; load average before/after: "
                 f"{args.load_before:.2f}/{os.getloadavg()[0]:.2f}")
    lines.append("8 GEMMs: the forward and backward matrix products alone, at the BLAS thread count "
                 "nettrain uses for that batch size (1 below 64); torch 8 GEMMs: the same products "
                 "in torch at its thread count; FTZ: torch.set_flush_denormal(True)")
    return lines


def table(cases):
    labels = [label for label, _ in cases[0][2]]
    torch_labels = [lab for lab in labels if lab.startswith("torch") and "GEMMs" not in lab]
    head = ["net", "batch"] + labels + ["nettrain / GEMMs", "nettrain / best torch", "nettrain / sklearn"]
    rows = [head, ["---"] * len(head)]
    for arch, batch, made, times in cases:
        med = {label: (c if isinstance(c, str) else median(times[label])) for label, c in made}
        row = [arch, str(batch)] + [v if isinstance(v, str) else f"{v:.3f}" for v in med.values()]
        mine = med.get("nettrain")
        best_torch = min((med[lab] for lab in torch_labels if not isinstance(med[lab], str)), default=None)
        for other in (med.get("8 GEMMs"), best_torch, med.get("scikit-learn")):
            ok = isinstance(mine, float) and isinstance(other, float)
            row.append(f"{mine / other:.2f}" if ok else "n/a")
        rows.append(row)
    return ["| " + " | ".join(r) + " |" for r in rows]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batches", type=lambda s: [int(b) for b in s.split(",")], default=[32, 128, 512])
    parser.add_argument("--nets", type=lambda s: s.split(","), default=["mnist", "tabular"])
    parser.add_argument("--samples", type=int, default=60000)
    parser.add_argument("--random", action="store_true",
                        help="random MNIST-shaped data even when MNIST is present")
    parser.add_argument("--skip", type=lambda s: s.split(","), default=[],
                        help="columns to leave out, e.g. 'scikit-learn,torch default Adam'")
    parser.add_argument("--only", type=lambda s: s.split(","), default=None,
                        help="the columns to time, e.g. '8 GEMMs,torch 8 GEMMs' (the only way to "
                             "get 'torch 8 GEMMs')")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    args.load_before = os.getloadavg()[0]
    cases, sources = run(args)
    print("\n".join(header(sources, args)))
    print()
    print("\n".join(table(cases)))
    print(f"\n({time.perf_counter() - started:.0f} s in all)")


if __name__ == "__main__":
    main()
