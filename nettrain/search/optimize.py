"""A search on an Optuna study (`search.method: tpe`, or any `search.pruner`).

The study lives in its storage (search.db beside the trials by default, or search.storage):
the sampler asks it for each trial's parameters, every run reports its search metric after
each epoch, and the pruner stops a run that lags the others at that epoch. Each ended trial
(ok, pruned or failed) keeps its results row in the study, so running the same command
again, here or on another machine sharing the storage, continues where the study stands.
A trial cut short by Ctrl-C is marked interrupted: it is no row and does not count.
"""

import hashlib
import json

from nettrain.errors import ConfigError, Interrupted
from nettrain.search.executors import PRUNED, Unit, read_finished
from nettrain.search.report import SearchProgress
from nettrain.search.results import RESULTS, Book
from nettrain.search.study import (
    Space,
    StudyRef,
    import_optuna,
    make_pruner,
    make_sampler,
    open_storage,
    storage_url,
)

MAX_REPEATS = 20  # the sampler's proposals of points the study has, in a row, before it stops


class StudySearch:
    """Runs the trials a study's sampler proposes until `target` of them have ended."""

    def __init__(self, base, spec, metric, mode, folder, executor, console, quiet):
        from nettrain.search import trials

        self.trials = trials
        self.cfg, self.raw, self.base_dir = base
        self.section = self.cfg["search"]
        self.spec, self.metric, self.mode, self.folder = spec, metric, mode, folder
        self.executor, self.console, self.quiet = executor, console, quiet
        self.optuna = import_optuna(self.section)
        self.space = Space(self.optuna, spec)
        size = self.space.size()
        self.target = size if spec.method == "grid" else min(spec.trials, size or spec.trials)
        self.url = storage_url(self.section, folder)
        self.name = self.cfg["name"]
        # A pruner's steps: a trial's epochs, or its folds when cross-validation scores it.
        self.max_steps = self.section["folds"] or self.cfg["training"]["epochs"]
        self.study = self._open_study()
        self.book = Book(folder, [], spec, metric, mode, epochs=True)
        self.asked = {}  # trial id -> (Optuna trial, Trial) while it runs
        self._read_ended()

    # ------------------------------------------------------------ the study

    def _open_study(self):
        optuna = self.optuna
        study = optuna.create_study(storage=open_storage(optuna, self.url), study_name=self.name,
                                    direction="minimize" if self.mode == "min" else "maximize",
                                    load_if_exists=True)
        if study.direction.name.lower()[:3] != self.mode:
            raise ConfigError(f"The study {self.name!r} in {self.url} was started to "
                              f"{study.direction.name.lower()} its metric, and search.metric "
                              f"{self.metric} is {self.mode}: give the search another name, or "
                              "another search.storage.")
        # Seeded past the trials the study has, so a resumed search draws new points.
        study.sampler = make_sampler(optuna, self.spec, self.cfg["seed"] + len(study.trials))
        study.pruner = make_pruner(optuna, self.section["pruner"], self.max_steps)
        if self.spec.method == "grid":  # each point once, in the grid's order; a resumed grid keeps its queue
            for point in self.space.grid_points(self.spec):
                study.enqueue_trial(point, skip_if_exists=True)
        return study

    def _read_ended(self):
        """The rows of the trials that ended before (a resumed search, or other machines)."""
        for frozen in self.study.get_trials(deepcopy=False):
            row = frozen.user_attrs.get("row")
            if frozen.state.is_finished() and row and "duplicate" not in frozen.user_attrs:
                self._add_row(row)

    def _add_row(self, row):
        self.book.rows[row["id"]] = row
        if all(t.id != row["id"] for t in self.book.trials):
            trial = self._trial(row["id"], row["params"])
            if trial is not None:  # None: a point that is not a valid config
                self.book.trials.append(trial)

    def _trial(self, tid, params):
        try:
            cfg = self.trials.with_search(self.raw, self.base_dir, list(params.items()), self.section)
        except ConfigError:
            return None
        trial = self.trials.Trial(tid, params, cfg)
        self.trials.attach_units([trial], self.spec, self.folder)
        return trial

    # ------------------------------------------------------------ asking and telling

    def ask(self):
        """Start the next trial: (Optuna trial, Trial), or None when the sampler proposed a
        point the study already has (told its known result) or an invalid config (a row)."""
        optuna_trial = self.study.ask(self.space.distributions)
        params = self.space.params(optuna_trial.params)
        try:
            cfg = self.trials.with_search(self.raw, self.base_dir, list(params.items()), self.section)
        except ConfigError as err:
            tid = hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:8]
            row = {"id": tid, "params": params, "metrics": {}, "status": "failed", "seconds": 0.0,
                   "error": f"not a valid config: {' '.join(str(err).split())}", "epochs": 0}
            self.tell(optuna_trial, row)
            return None
        tid = self.trials.trial_id(cfg)
        if tid in self.book.rows or tid in self.asked:
            self._tell_again(optuna_trial, tid)
            return None
        trial = self.trials.Trial(tid, params, cfg)
        self.trials.attach_units([trial], self.spec, self.folder)
        ref = StudyRef(self.url, self.name, optuna_trial._trial_id, self.section["pruner"], self.max_steps,
                       self.metric)
        trial.units = [Unit(u.trial_id, u.repeat, u.config, u.run_dir, u.data_key,
                            ref if u.repeat == 0 else None) for u in trial.units]
        optuna_trial.set_user_attr("trial_id", tid)
        self.asked[tid] = (optuna_trial, trial)
        return optuna_trial, trial

    def _tell_again(self, optuna_trial, tid):
        """A point the study has: the sampler learns its known result; it is no new row."""
        optuna_trial.set_user_attr("duplicate", tid)
        row = self.book.rows.get(tid)
        state = self.optuna.trial.TrialState
        if row is not None and row["status"] == "ok":
            self.study.tell(optuna_trial, row["metrics"][self.metric])
        else:
            pruned = row is not None and row["status"] == PRUNED
            self.study.tell(optuna_trial, state=state.PRUNED if pruned else state.FAIL)

    def tell(self, optuna_trial, row):
        """End a trial in the study with its results row."""
        state = self.optuna.trial.TrialState
        optuna_trial.set_user_attr("row", row)
        if row["status"] == "ok":
            self.study.tell(optuna_trial, row["metrics"][self.metric])
        else:
            self.study.tell(optuna_trial, state=state.PRUNED if row["status"] == PRUNED else state.FAIL)
        self._add_row(row)
        self.book.save()

    def interrupt(self):
        """Mark the running trials interrupted: no rows, not counted; their points stay free."""
        for optuna_trial, _ in self.asked.values():
            optuna_trial.set_user_attr("interrupted", True)
            self.study.tell(optuna_trial, state=self.optuna.trial.TrialState.FAIL)
        self.asked.clear()

    # ------------------------------------------------------------ running

    def run(self):
        executor, book = self.executor, self.book
        running, repeats_in_a_row = {}, 0
        units_left = max(0, self.target - len(book.rows)) * self.spec.repeats
        with SearchProgress(self.console, self.target, units_left, executor.slots, self.metric, self.mode,
                            self.quiet) as progress:
            progress.done = len(book.rows)
            progress.failed = sum(r["status"] == "failed" for r in book.rows.values())
            progress.best = book.best()
            try:
                while True:
                    while (len(self.asked) < executor.slots and len(book.rows) + len(self.asked) < self.target
                           and repeats_in_a_row < MAX_REPEATS):
                        started = self.ask()
                        if started is None:
                            repeats_in_a_row += 1
                            continue
                        repeats_in_a_row = 0
                        for unit in started[1].units:
                            running[self._submit(unit)] = unit
                            progress.unit_started(unit.trial_id)
                    if not running:
                        break
                    for future in executor.wait(list(running), timeout=0.25):
                        unit = running.pop(future)
                        self._collect(unit, self._result(future), progress)
            except (KeyboardInterrupt, Interrupted):
                executor.cancel()
                self.interrupt()
                book.save()
                raise Interrupted(
                    f"grid-search stopped: {len(book.rows)} of {self.target} trials ended, results so far "
                    f"in {self.folder / RESULTS}; the study is in {self.url}. Run the same command again "
                    "to resume."
                ) from None
        if repeats_in_a_row >= MAX_REPEATS and not self.quiet:
            self.console.print(f"The sampler proposed only points the study already has, {MAX_REPEATS} "
                               f"times in a row: stopped at {len(book.rows)} trials.", soft_wrap=True)

    def _submit(self, unit):
        done = read_finished(unit.run_dir, self.section["folds"])
        if done is None:
            self.trials.clear_partial(unit.run_dir)
        return self.executor.submit(unit)

    def _result(self, future):
        try:
            return self.executor.result(future)
        except Interrupted:
            raise KeyboardInterrupt from None
        except Exception as err:  # the worker itself died
            return {"status": "failed", "metrics": {}, "seconds": 0.0,
                    "error": f"worker failed: {type(err).__name__}: {err}"}

    def _collect(self, unit, result, progress):
        optuna_trial, trial = self.asked[unit.trial_id]
        trial.results[unit.repeat] = result
        progress.unit_finished(unit.trial_id, result.get("seconds", 0.0))
        if len(trial.results) < len(trial.units):
            return
        del self.asked[unit.trial_id]
        from nettrain.search.results import trial_row

        row = trial_row(trial, self.metric, self.spec.repeats)
        self.tell(optuna_trial, row)
        progress.trial_finished(row, self.book.best())


def study_search(base, spec, metric, mode, folder, datasets, make_executor, console, quiet):
    """Run a search on its study; returns the Book of its rows (see StudySearch)."""
    if spec.repeats > 1 and base[0]["search"]["pruner"] != "none":
        raise ConfigError("search.pruner stops a trial on its curve, and search.repeats trains "
                          "several: give one of the two (search.repeats: 1).")
    search = StudySearch(base, spec, metric, mode, folder, None, console, quiet)
    search.executor = make_executor()
    if not quiet:
        ended = len(search.book.rows)
        note = f" ({ended} already ended)" if ended else ""
        console.print(f"grid-search: {spec.method} search of {search.target} trials{note}, pruner "
                      f"{base[0]['search']['pruner']}, on {search.executor.where}; study "
                      f"{search.name!r} in {search.url}", soft_wrap=True, highlight=False)
    with search.executor, search.trials.sigterm_as_interrupt():
        search.run()
    return search.book
