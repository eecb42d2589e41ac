"""Using a trained run: loading its directory safely, predicting and evaluating
(`loading`), and `Run`, what `nettrain.fit` returns."""
