"""Training: one fit of a config (`session`), the epoch loop (`trainer`), the callbacks that
record history, checkpoints and the best epoch (`callbacks`), gradient-health diagnostics
(`diagnostics`) and the terminal output of a fit.
"""
