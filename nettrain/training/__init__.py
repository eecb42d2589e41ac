"""Training: one home for a training run (`launch`: the config, the run directory, the data; `session`:
the trainer a config describes and the run's files), the epoch loop (`trainer`), callbacks
(`callbacks`: the `Callback` base, best-epoch tracking, early stopping, history, checkpoints),
gradient-health diagnostics (`diagnostics`), the terminal output (`output`, the only part that
imports rich) and the config-level gradient check (`config_gradients`).
"""
