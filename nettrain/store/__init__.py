"""Run directories on disk: their files written atomically and checkpoints (`rundir`), the
runs under a folder with their state (`listing`, `table`). Using a trained run to predict
and evaluate is `nettrain.inference`."""
