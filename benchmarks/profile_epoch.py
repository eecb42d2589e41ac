"""Where a nettrain epoch spends its time: seconds per phase of the training step.

Runs the trainer's own step (the same objects and calls as `Trainer._step`, in the same
order) with a clock between the phases: gather (the shuffled batch copy), forward,
loss (forward and backward), backward, gradient check, optimizer update. The matrix
products inside forward and backward are timed by repeating them on the same arrays right
after, so "forward elementwise" is forward minus its GEMMs (bias, activations, caches).
Run from the repository root:

    python benchmarks/profile_epoch.py                 # batches 32, 128, 512 on MNIST
    python benchmarks/profile_epoch.py --batches 512 --threads 1
"""

import argparse
import os
import sys
import time
from collections import defaultdict

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import MNIST_LAYERS, TABULAR_LAYERS, blas_threads, mnist_data, tabular_data  # noqa: E402

PHASES = ["gather", "forward GEMMs", "forward elementwise", "loss", "backward GEMMs",
          "backward elementwise", "gradient check", "optimizer update"]


def dense_layers(model):
    return [layer for layer in model.layers if "W" in layer.params]


CLOCK = time.perf_counter


def time_gemms(model, backward, scratch):
    """Seconds for the dense layers' forward (or backward) products, repeated on their arrays."""
    start = CLOCK()
    for i, layer in enumerate(dense_layers(model)):
        x, W, dW = layer.x, layer.params["W"], layer.grads["W"]
        out = scratch[i][:len(x)]
        if not backward:
            np.matmul(x, W, out=out)
        else:
            np.matmul(x.T, out, out=dW)  # dW = x^T g
            if i:
                x_grad = np.matmul(out, W.T)  # grad_in = g W^T (not for the first layer)
                del x_grad
    return CLOCK() - start


def profile_epoch(trainer, X, y, totals):
    """One epoch of the trainer's step, split into phases; adds seconds to `totals`."""
    model, loss, optimizer = trainer.model, trainer.loss, trainer.optimizer
    scratch = [np.empty((trainer.batch_size, layer.units), model.dtype) for layer in dense_layers(model)]
    order = trainer.rng.permutation(len(X))
    clock = CLOCK
    for start in range(0, len(X), trainer.batch_size):
        stop = min(len(X), start + trainer.batch_size)
        t0 = clock()
        x_batch, y_batch = trainer._batch(X, y, order, start, stop)
        t1 = clock()
        output = model.forward(x_batch, training=True)
        t2 = clock()
        float(loss.forward(output, y_batch))
        grad = loss.backward()
        t3 = clock()
        model.backward(grad)
        t4 = clock()
        named = model.named_params()
        trainer._check_gradients(named, 1, 0)
        t5 = clock()
        optimizer.step(named)
        t6 = clock()
        forward_gemms = time_gemms(model, False, scratch)
        backward_gemms = time_gemms(model, True, scratch)
        totals["gather"] += t1 - t0
        totals["forward GEMMs"] += forward_gemms
        totals["forward elementwise"] += max(t2 - t1 - forward_gemms, 0.0)
        totals["loss"] += t3 - t2
        totals["backward GEMMs"] += backward_gemms
        totals["backward elementwise"] += max(t4 - t3 - backward_gemms, 0.0)
        totals["gradient check"] += t5 - t4
        totals["optimizer update"] += t6 - t5
        totals["total"] += t6 - t0


def threads_for(batch, threads):
    """The BLAS threads asked for, else the trainer's own choice for this batch size."""
    if threads is not None:
        return blas_threads(threads)
    from nettrain import backend

    return backend.blas_threads(batch)


def make_trainer(X, layers, batch):
    from nettrain.nn.losses import CrossEntropyLoss
    from nettrain.nn.model import Model
    from nettrain.nn.optimizers import Adam
    from nettrain.training.trainer import Trainer

    model = Model(layers, X.shape[1], dtype="float32", rng=0)
    trainer = Trainer(model, CrossEntropyLoss(), Adam(lr=1e-3), epochs=1, batch_size=batch,
                      shuffle=True, rng=np.random.default_rng(0))
    return trainer


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=lambda s: [int(b) for b in s.split(",")], default=[32, 128, 512])
    parser.add_argument("--net", choices=["mnist", "tabular"], default="mnist")
    parser.add_argument("--epochs", type=int, default=3, help="profiled epochs per batch size (medians)")
    parser.add_argument("--random", action="store_true",
                        help="random MNIST-shaped data even when MNIST is present")
    parser.add_argument("--threads", type=int, default=None, help="BLAS threads (default: nettrain's choice)")
    parser.add_argument("--cpu-clock", action="store_true",
                        help="count this thread's CPU time, not wall time: steadier on a busy machine, "
                             "meaningful with --threads 1 only")
    args = parser.parse_args(argv)
    if args.cpu_clock:
        global CLOCK
        CLOCK = time.thread_time
    X, y, source = (mnist_data if args.net == "mnist" else tabular_data)(real=not args.random)
    layers = MNIST_LAYERS if args.net == "mnist" else TABULAR_LAYERS
    print(f"data: {source}; float32; Adam; seconds per epoch, median of {args.epochs} epochs "
          "(GEMMs re-timed on the same arrays; the rest measured in place)\n")
    columns = PHASES + ["total"]
    print("| batch | " + " | ".join(columns) + " |")
    print("|" + " --- |" * (len(columns) + 1))
    for batch in args.batches:
        trainer = make_trainer(X, layers, batch)
        trainer._allocate(X, y)
        runs = []
        with threads_for(batch, args.threads):
            profile_epoch(trainer, X, y, defaultdict(float))  # warm-up
            for _ in range(args.epochs):
                totals = defaultdict(float)
                profile_epoch(trainer, X, y, totals)
                runs.append(totals)
        med = {k: float(np.median([r[k] for r in runs])) for k in columns}
        cells = ([f"{med[k]:.3f} ({100 * med[k] / med['total']:.0f}%)" for k in PHASES]
                 + [f"{med['total']:.3f}"])
        print(f"| {batch} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
