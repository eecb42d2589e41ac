"""One training step of a LeNet-like network: nettrain vs PyTorch CPU (default and channels_last).

The network: conv2d 32 3x3 relu, max_pool2d 2, conv2d 64 3x3 relu, max_pool2d 2, flatten,
dense 128 relu, dense 10; batch 128 of 1x28x28 float32 images; a step is forward, the
cross-entropy loss, backward and one Adam update. Rounds are interleaved (nettrain, torch,
torch channels_last), so a busy moment on a shared machine hits every column alike; the table
shows the fastest and the median round after a warm-up. Both libraries use the same number
of threads (default 2). `--profile` adds where nettrain's step spends its time, layer by
layer (process time, one BLAS thread, so other programs do not count). Run from the
repository root:

    python benchmarks/bench_conv.py                     # ratios at 2 threads
    python benchmarks/bench_conv.py --repeats 40 --profile
"""

import argparse
import statistics
import time

import numpy as np

TARGETS = {"torch": 1.5, "torch channels_last": 2.0}  # nettrain / torch, at 2 threads
LAYERS = [
    {"type": "conv2d", "filters": 32, "kernel_size": 3, "activation": "relu"},
    {"type": "max_pool2d", "pool_size": 2},
    {"type": "conv2d", "filters": 64, "kernel_size": 3, "activation": "relu"},
    {"type": "max_pool2d", "pool_size": 2},
    {"type": "flatten"},
    {"type": "dense", "units": 128, "activation": "relu"},
    {"type": "dense", "units": 10},
]


def nettrain_step(batch):
    from nettrain.nn.losses import get_loss
    from nettrain.nn.model import Model
    from nettrain.nn.optimizers import get_optimizer

    model = Model(LAYERS, (1, 28, 28), dtype="float32", rng=0)
    loss, adam = get_loss("cross_entropy"), get_optimizer({"name": "adam", "lr": 1e-3})
    x, y = batch

    def step():
        loss.forward(model.forward(x, training=True), y)
        model.backward(loss.backward())
        adam.step(model.named_params())
    return step, model, loss


def torch_step(batch, channels_last):
    import torch

    torch.manual_seed(0)
    nn = torch.nn
    net = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3),
                        nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(1600, 128), nn.ReLU(),
                        nn.Linear(128, 10))
    x, y = torch.tensor(batch[0]), torch.tensor(batch[1])
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    adam = torch.optim.Adam(net.parameters(), lr=1e-3)

    def step():
        adam.zero_grad()
        nn.functional.cross_entropy(net(x), y).backward()
        adam.step()
    return step


def profile(step, model, loss, x, y, repeats):
    """Process time per layer's forward and backward, with one BLAS thread."""
    from threadpoolctl import threadpool_limits

    clock, spent = time.process_time, {}
    with threadpool_limits(1, user_api="blas"):
        for _ in range(repeats):
            h = x
            for i, layer in enumerate(model.layers):
                start = clock()
                h = layer.forward(h, training=True)
                spent[(i, "forward")] = spent.get((i, "forward"), 0) + clock() - start
            loss.forward(h, y)
            g = loss.backward()
            for i in reversed(range(len(model.layers))):
                start = clock()
                g = model.layers[i].backward(g, input_grad=i > 0)
                spent[(i, "backward")] = spent.get((i, "backward"), 0) + clock() - start
    total = sum(spent.values())
    print(f"\nwhere nettrain's step goes (process time, 1 thread, {repeats} steps; the optimizer "
          "and loss not counted):")
    for (i, part), seconds in sorted(spent.items(), key=lambda kv: -kv[1]):
        print(f"  {i} {model.layers[i].describe():24} {part:8} {seconds / repeats * 1e3:7.2f} ms "
              f"{seconds / total:6.1%}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()

    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    batch = (rng.random((args.batch, 1, 28, 28), dtype=np.float32), rng.integers(0, 10, args.batch))
    ours, model, loss = nettrain_step(batch)
    steps = {"nettrain": ours, "torch": torch_step(batch, False),
             "torch channels_last": torch_step(batch, True)}
    times = {name: [] for name in steps}
    with threadpool_limits(args.threads, user_api="blas"):
        for round_ in range(args.repeats + 2):
            for name, step in steps.items():
                start = time.perf_counter()
                step()
                if round_ >= 2:  # two warm-up rounds
                    times[name].append(time.perf_counter() - start)
    print(f"one training step (forward, loss, backward, Adam), LeNet-like, batch {args.batch}, "
          f"float32, {args.threads} thread(s), {args.repeats} interleaved rounds")
    print(f"{'':22} {'fastest ms':>10} {'median ms':>10} {'ratio':>7} {'median ratio':>13} "
          f"{'target':>7}")
    best = {name: min(t) for name, t in times.items()}
    median = {name: statistics.median(t) for name, t in times.items()}
    for name in steps:
        if name == "nettrain":
            print(f"{name:22} {best[name] * 1e3:10.1f} {median[name] * 1e3:10.1f}")
            continue
        print(f"{name:22} {best[name] * 1e3:10.1f} {median[name] * 1e3:10.1f} "
              f"{best['nettrain'] / best[name]:7.2f} {median['nettrain'] / median[name]:13.2f} "
              f"{TARGETS[name]:7.1f}")
    if args.profile:
        profile(ours, model, loss, *batch, max(5, args.repeats // 2))


if __name__ == "__main__":
    main()
