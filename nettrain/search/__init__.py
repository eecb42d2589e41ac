"""Grid search: planning and running the trials of a config's `search` space (`grid`; the
space's grammar is `nettrain.config.space`), where they run (`executors`: inline, a local
process pool or Dask), their results and ranking (`results`), the live report (`report`) and
refitting the best trial (`refit`).
"""
