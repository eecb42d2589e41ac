"""`loss.class_weights`: a list (one weight per class, in class order), `balanced`, or a
mapping from labels to weights (labels left out weigh 1).

`balanced` is scikit-learn's `compute_class_weight("balanced")`: class c weighs
n / (k * n_c), with n the train rows, k the classes and n_c the train rows of class c (a
class absent from the train split counts as one row), so every class carries the same total
weight.
"""

from nettrain.checks import check_float

BALANCED = "balanced"


def check(spec):
    """The spec as given, validated: None, 'balanced', a list or a {label: weight} mapping."""
    if spec is None or spec == BALANCED:
        return spec
    if isinstance(spec, dict) and spec:
        return {label: check_float(f"class_weights[{label!r}]", w, low=0) for label, w in spec.items()}
    if isinstance(spec, (list, tuple)) and spec:
        return [check_float(f"class_weights[{i}]", w, low=0) for i, w in enumerate(spec)]
    raise ValueError("class_weights must be 'balanced', a list of numbers >= 0 (one per class, "
                     "in sorted label order) or a mapping of labels to weights, e.g. "
                     f"{{yes: 5, no: 1}}. Got {spec!r}.")


def resolve(spec, classes, counts):
    """One weight per class (a list of floats), or None when `spec` is None.

    Args:
        spec: a checked spec (see `check`).
        classes: the class labels in class-index order.
        counts: train rows per class, in the same order (needed for 'balanced').
    """
    if spec is None or isinstance(spec, list):
        return spec
    if spec == BALANCED:
        if counts is None:
            raise ValueError("class_weights: balanced needs the train split's class counts.")
        n, k = sum(counts), len(counts)
        return [n / (k * max(c, 1)) for c in counts]
    by_label = {str(label): float(w) for label, w in spec.items()}
    return [by_label.get(str(c), 1.0) for c in classes]
