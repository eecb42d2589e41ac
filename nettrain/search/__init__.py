"""Grid search: planning and running the trials of a config's `search` space (`grid`; the
space's grammar is `nettrain.config.space`; the config it starts from, `base_config`), where
they run (`executors`: inline, a local process pool or Dask), their results and ranking
(`results`), the live report (`report`) and refitting the best trial (`refit`); a search on an
Optuna study (`study`, `optimize`); k-fold cross-validation (`cv`, the folds in `folds`), which
also scores each trial of a search with `search.folds`.
"""
