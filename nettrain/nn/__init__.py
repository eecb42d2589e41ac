"""The neural-network core: layers, activations, initializers, losses, metrics, optimizers,
learning-rate schedules, the `Model` that stacks layers (and reads and writes model.npz),
and finite-difference gradient checks. It computes with `nettrain.backend.xp` and knows
nothing of configs, files or the command line; each kind of component is a registry table
(`LAYERS`, `ACTIVATIONS`, `LOSSES`, ...) that a new class joins with one registration.
"""
