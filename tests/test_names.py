"""Names that mean one thing: no two classes of the package share a name, no two registry
tables hold classes of the same name, and `fit`, `gradcheck` and the tables' names each name
one thing."""

import collections
import importlib
import inspect
import pkgutil

import pytest

import nettrain
from nettrain.config.schema import registries


def package_modules():
    return [importlib.import_module(info.name)
            for info in pkgutil.walk_packages(nettrain.__path__, "nettrain.")]


def defined_in(module, accept):
    """(name, object) for each object `accept`s that `module` itself defines (not imports)."""
    return [(name, obj) for name, obj in vars(module).items()
            if accept(obj) and getattr(obj, "__module__", None) == module.__name__]


def test_no_two_classes_of_the_package_share_a_name():
    where = collections.defaultdict(list)
    for module in package_modules():
        for name, _ in defined_in(module, inspect.isclass):
            where[name].append(module.__name__)
    assert {name: modules for name, modules in where.items() if len(modules) > 1} == {}


def test_registry_tables_hold_distinct_class_names():
    kinds = collections.defaultdict(set)
    for kind, table in registries().items():
        for cls in table.values():
            kinds[cls.__name__].add(kind)
    assert {name: k for name, k in kinds.items() if len(k) > 1} == {}


def test_fit_and_gradcheck_each_name_one_thing():
    fits = [module.__name__ for module in package_modules()
            for name, _ in defined_in(module, inspect.isfunction) if name == "fit"]
    assert fits == ["nettrain.api"]  # nettrain.fit, the public one
    methods = [f"{cls.__qualname__}.fit" for module in package_modules()
               for _, cls in defined_in(module, inspect.isclass) if "fit" in vars(cls)]
    assert methods == []  # the Trainer's loop is Trainer.train
    gradchecks = [module.__name__ for module in package_modules()
                  if module.__name__.rsplit(".", 1)[-1] == "gradcheck"]
    assert gradchecks == ["nettrain.commands.gradcheck"]  # the `nettrain gradcheck` verb


def test_each_table_name_is_defined_once():
    tables = {"LAYERS", "ACTIVATIONS", "INITIALIZERS", "LOSSES", "OPTIMIZERS", "SCHEDULES", "METRICS"}
    where = collections.defaultdict(set)
    for module in package_modules():
        for name, value in vars(module).items():
            if name in tables:
                where[name].add(id(value))
    assert {name: len(ids) for name, ids in where.items()} == dict.fromkeys(tables, 1)


def test_each_class_is_known_by_the_first_name_it_is_registered_under():
    for kind, table in registries().items():
        attribute = "type" if kind == "layer" else "name"
        for name, cls in table.items():
            assert table[getattr(cls, attribute)] is cls, (kind, name)


def test_a_name_taken_by_another_class_is_refused():
    from nettrain.nn.metrics import register_metric

    with pytest.raises(ValueError, match="metric .accuracy. is registered twice: Accuracy and .*Copy"):
        @register_metric("accuracy")
        class Copy:
            pass
