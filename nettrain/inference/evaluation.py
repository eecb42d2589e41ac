"""`EvaluationReport`: the metrics report `evaluate` returns, with its JSON form and the
confusion matrix as a table."""

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd


class EvaluationReport(dict):
    """The metrics report of a run on a split or on labelled data: a plain dict (`run`,
    `split`, `data`, `task`, `n_samples`, `loss`, the scores, `per_class` and
    `confusion_matrix` or `per_output`), with the forms `nettrain evaluate` writes it in."""

    def json_ready(self) -> dict:
        """The report as `--json` prints it: NaN (an undefined score, e.g. ROC AUC of one
        class) as None, so it is valid JSON."""
        return _plain(dict(self))

    def confusion_table(self) -> "pd.DataFrame":
        """The confusion matrix as a DataFrame, as `--confusion-csv` writes it: a
        `true \\ predicted` column of labels, then one column per predicted label."""
        import pandas as pd

        confusion = self["confusion_matrix"]
        labels = [str(label) for label in confusion["labels"]]
        table = pd.DataFrame(confusion["matrix"], columns=labels)
        table.insert(0, "true \\ predicted", labels)
        return table


def _plain(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value
