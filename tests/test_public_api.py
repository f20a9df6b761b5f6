"""One public surface: every public class a layer subpackage defines is importable from
``ml_blueprints.constructs`` and every stack from ``ml_blueprints.stacks``."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from enum import Enum

import aws_cdk as cdk
from constructs import Construct

import ml_blueprints.constructs as public
import ml_blueprints.stacks as stacks


def _modules(package):
    for info in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
        yield importlib.import_module(info.name)


def _public_classes(package) -> dict[str, type]:
    """Public classes defined in ``package``'s modules: constructs, prop types, enums."""
    found = {}
    for module in _modules(package):
        for name, obj in vars(module).items():
            if (
                inspect.isclass(obj)
                and obj.__module__ == module.__name__
                and not name.startswith("_")
                and (issubclass(obj, (Construct, Enum)) or hasattr(obj, "__dataclass_fields__"))
            ):
                found[name] = obj
    return found


def test_every_public_construct_prop_type_and_enum_is_exported() -> None:
    classes = _public_classes(public)
    assert {"SecureDataLake", "SparkCluster", "ZoneCrawl", "FleetType"} <= set(classes)
    missing = sorted(
        name for name, obj in classes.items() if getattr(public, name, None) is not obj
    )
    assert missing == [], f"not exported from ml_blueprints.constructs: {missing}"


def test_all_lists_exactly_what_the_package_exports() -> None:
    for name in public.__all__:
        assert hasattr(public, name), name
    layers = [
        importlib.import_module(f"{public.__name__}.{info.name}")
        for info in pkgutil.iter_modules(public.__path__)
        if info.ispkg
    ]
    assert len(layers) >= 6
    for layer in layers:
        assert set(layer.__all__) <= set(public.__all__), layer.__name__


def test_every_stack_is_exported_from_ml_blueprints_stacks() -> None:
    defined = {
        name
        for module in _modules(stacks)
        for name, obj in vars(module).items()
        if inspect.isclass(obj) and issubclass(obj, cdk.Stack) and obj.__module__ == module.__name__
    }
    assert defined and defined <= set(stacks.__all__)
