"""Grid search: the search space (`space`), planning and running the trials (`grid`), where
they run (`executors`: inline, a local process pool or Dask), their results and ranking
(`results`), the live report (`report`) and refitting the best trial (`refit`).
"""
