"""Run directories: their files written atomically, checkpoints (`rundir`), and using a
trained run: loading it safely, predicting and evaluating (`inference`).
"""
