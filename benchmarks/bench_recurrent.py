"""Forward + backward of one recurrent layer: nettrain's rnn, lstm and gru vs PyTorch CPU.

The same problem for both: hidden 128, T 50, batch 64, input 32, float32; the layer returns
its last state and the loss gradient is random. Both compute the input gradient too (torch's
input requires grad). Repeats are interleaved (each round times nettrain, then torch) and the
table shows the fastest round of each after a warm-up, so a busy minute on a shared machine
hits both columns alike. Both libraries use the same number of threads (default 1). Run
from the repository root:

    python benchmarks/bench_recurrent.py                  # ratios for lstm, gru, rnn
    python benchmarks/bench_recurrent.py --threads 2 --repeats 20
"""

import argparse
import time

import numpy as np

TARGETS = {"lstm": 2.0, "gru": 1.0, "rnn": 1.0}  # nettrain / torch


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--features", type=int, default=32)
    parser.add_argument("--units", type=int, default=128)
    args = parser.parse_args()

    import torch
    from threadpoolctl import threadpool_limits

    from nettrain.nn.layers.recurrent import GRU, LSTM, RNN

    torch.set_num_threads(args.threads)
    n, T, F, U = args.batch, args.steps, args.features, args.units
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, T, F)).astype(np.float32)
    g = rng.normal(size=(n, U)).astype(np.float32)
    print(f"forward + backward, hidden {U}, T {T}, batch {n}, input {F}, float32, "
          f"{args.threads} thread(s), fastest of {args.repeats}")
    print(f"{'layer':6} {'nettrain ms':>12} {'torch ms':>10} {'ratio':>7} {'target':>7}")
    with threadpool_limits(args.threads, user_api="blas"):
        for name, ours, theirs in (("lstm", LSTM, torch.nn.LSTM), ("gru", GRU, torch.nn.GRU),
                                   ("rnn", RNN, torch.nn.RNN)):
            layer = ours(units=U)
            layer.build((T, F), np.random.default_rng(0), "float32")
            module = theirs(F, U, batch_first=True)
            xt, gt = torch.tensor(x, requires_grad=True), torch.tensor(g)
            mine, torch_times = [], []
            for _ in range(args.repeats + 1):
                start = time.perf_counter()
                layer.forward(x, training=True)
                layer.backward(g)
                mine.append(time.perf_counter() - start)
                start = time.perf_counter()
                out, _ = module(xt)
                out[:, -1].backward(gt)
                torch_times.append(time.perf_counter() - start)
            a, b = min(mine[1:]), min(torch_times[1:])
            ok = "ok" if a / b <= TARGETS[name] else "MISSED"
            print(f"{name:6} {a * 1e3:12.2f} {b * 1e3:10.2f} {a / b:6.2f}x {TARGETS[name]:5.1f}x {ok}",
                  flush=True)


if __name__ == "__main__":
    main()
