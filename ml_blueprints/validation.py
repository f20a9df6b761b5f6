"""Prop validation that collects every problem and raises one clear ``ValueError``.

Every construct and the app configuration validate their inputs up front (at synth time,
before anything reaches CloudFormation) with :class:`PropErrors`::

    errors = PropErrors("SecureDataLake")
    errors.require(days >= 30, "lifecycle.raw.infrequent_access_after_days", days,
                   "at least 30 (S3's minimum for STANDARD_IA)")
    errors.raise_if_any()

The message names the construct, then one line per problem: the prop, the value given and
what is allowed.

Types are checked here, once, for every construct: :func:`typed_props` wraps a constructor
or method and checks each argument against its type hint before the body runs (a string
where a list is expected, a plain string where an enum or a construct is expected, ``None``
for a required value, an unknown keyword); the option-group dataclasses inherit
:class:`TypedProps`, which does the same for their fields. A type problem is reported in the
same ``PropErrors`` message as the construct's own checks of the other props, never as an
``AttributeError`` or a jsii serialization error.
"""

from __future__ import annotations

import collections.abc
import contextvars
import dataclasses
import difflib
import enum
import functools
import inspect
import types
import typing
from collections.abc import Callable
from typing import Any, TypeVar


class PropErrors:
    """Collects invalid props for one construct; :meth:`raise_if_any` reports them all.

    Type problems that :func:`typed_props` found for the same ``owner`` (before the body
    ran) are included first; an owner that adds the construct's path (``"AuditTrail
    Stack/Trail"``) is the same owner.
    """

    def __init__(self, owner: str) -> None:
        self.owner = owner
        self.problems: list[str] = []
        pending = _PENDING.get()
        if (
            pending is not None
            and pending[1]
            and (owner == pending[0] or owner.startswith(pending[0] + " "))
        ):
            self.problems.extend(pending[1])
            _PENDING.set((owner, []))  # adopted: reported by this collector

    def add(self, prop: str, value: Any, allowed: str) -> None:
        """Record that ``prop`` has the bad ``value``; ``allowed`` says what would be valid."""
        self.problems.append(f"{prop}={_show(value)}: {allowed}")

    def require(self, ok: bool, prop: str, value: Any, allowed: str) -> bool:
        """Record a problem unless ``ok``; returns ``ok`` so checks can be chained."""
        if not ok:
            self.add(prop, value, allowed)
        return ok

    def raise_if_any(self) -> None:
        """Raise one ``ValueError`` listing every recorded problem, if there are any."""
        if self.problems:
            raise ValueError(_message(self.owner, self.problems))


def _message(owner: str, problems: list[str]) -> str:
    lines = "\n".join(f"  - {problem}" for problem in problems)
    noun = "prop" if len(problems) == 1 else "props"
    return f"{owner}: invalid {noun}:\n{lines}"


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 200 else text[:197] + "..."


# ------------------------------------------------------------------------------ type checks

#: Type problems found before a body ran, waiting for the body's ``PropErrors(owner)``.
_PENDING: contextvars.ContextVar[tuple[str, list[str]] | None] = contextvars.ContextVar(
    "mlbp_pending_type_problems", default=None
)

F = TypeVar("F", bound=Callable[..., Any])


def typed_props(func: F) -> F:
    """Check the arguments of ``func`` (a constructor or method) against its type hints.

    Before the body runs, every argument given (each item of a ``*args``) is checked against
    its hint; an unknown keyword or a missing required one is a problem too. Without
    problems the body runs as is. With problems, each badly typed prop that has a default is
    replaced by it and the body runs until its own validation, whose ``PropErrors`` (of the
    same owner: the class name, or ``Class.method``) reports the type problems first,
    together with any other bad prop, in one ``ValueError``. A bad prop without a default (a
    required one) is reported at once, with the other type problems, under the owner and the
    construct's path.
    """
    signature = inspect.signature(func)
    owner = func.__qualname__.removesuffix(".__init__")
    hints: dict[str, Any] | None = None

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        nonlocal hints
        try:
            bound = signature.bind(*args, **kwargs)
        except TypeError as error:
            raise ValueError(_message(owner, _binding_problems(signature, kwargs, error))) from None
        if hints is None:
            hints = typing.get_type_hints(func)
        problems: list[str] = []
        bad: set[str] = set()
        for name, value in bound.arguments.items():
            parameter = signature.parameters[name]
            if name == "self" or name not in hints:
                continue
            if parameter.kind is inspect.Parameter.VAR_KEYWORD:
                continue
            if parameter.kind is inspect.Parameter.VAR_POSITIONAL:  # *items: each one
                found = [
                    problem
                    for index, item in enumerate(value)
                    for problem in type_problems(item, hints[name], f"{name}[{index}]")
                ]
            else:
                found = type_problems(value, hints[name], name)
            if found:
                problems.extend(found)
                bad.add(name)
        if not problems:
            return func(*args, **kwargs)
        required = [n for n in bad if signature.parameters[n].default is inspect.Parameter.empty]
        if required:
            raise ValueError(_message(_with_path(owner, bound.arguments), problems))
        for name in bad:
            bound.arguments[name] = signature.parameters[name].default
        token = _PENDING.set((owner, problems))
        try:
            func(*bound.args, **bound.kwargs)
        finally:
            _PENDING.reset(token)
        # The body returned without collecting its props under this owner (so without
        # reporting the type problems): report them alone.
        raise ValueError(_message(owner, problems))

    wrapper.__typed_props__ = True  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]


def _with_path(owner: str, arguments: dict[str, Any]) -> str:
    """``owner`` and the path the construct would have (``"CostBudget Stack/Budget"``), when
    the arguments are a valid ``scope`` and ``id``."""
    scope, id_ = arguments.get("scope"), arguments.get("id")
    node = getattr(scope, "node", None)
    if not isinstance(id_, str) or node is None:
        return owner
    try:
        path = node.path
    except Exception:  # not a construct after all
        return owner
    return f"{owner} {path}/{id_}" if path else f"{owner} {id_}"


def _binding_problems(
    signature: inspect.Signature, kwargs: dict[str, Any], error: TypeError
) -> list[str]:
    known = [n for n in signature.parameters if n != "self"]
    problems = []
    for name, value in kwargs.items():
        if name not in signature.parameters:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            problems.append(
                f"{name}={_show(value)}: not a prop of this construct ({hint}props: "
                f"{', '.join(known[2:] if known[:2] == ['scope', 'id'] else known)})"
            )
    if not problems:
        missing = [
            n
            for n, p in signature.parameters.items()
            if p.default is inspect.Parameter.empty
            and p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
            and n != "self"
            and n not in kwargs
            and n in str(error)
        ]
        problems = [f"{n}: required" for n in missing] or [str(error)]
    return problems


class TypedProps:
    """Base of the option-group dataclasses: checks each field against its type hint when
    an instance is created, and raises one ``ValueError`` naming each badly typed field."""

    def __post_init__(self) -> None:
        cls = type(self)
        hints = typing.get_type_hints(cls)
        problems: list[str] = []
        for field in dataclasses.fields(self):  # type: ignore[arg-type]
            if field.name in hints:
                value = getattr(self, field.name)
                problems.extend(type_problems(value, hints[field.name], field.name))
        if problems:
            raise ValueError(_message(cls.__name__, problems))


def type_problems(value: Any, hint: Any, prop: str) -> list[str]:
    """Why ``value`` does not fit the type ``hint``, as ``prop=value: allowed`` lines
    (empty when it fits). Elements of lists and mappings are checked one by one and named
    ``prop[0]``, ``prop['key']``."""
    return _check(value, hint, prop)


def _check(value: Any, hint: Any, prop: str) -> list[str]:
    if hint is Any or hint is object:
        return []
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        members = [a for a in args if a is not type(None)]
        if value is None:
            return [] if type(None) in args else [_line(prop, value, describe(hint))]
        if len(members) == 1:
            found = _check(value, members[0], prop)
            if found and type(None) in args and len(found) == 1 and found[0].startswith(f"{prop}="):
                return [_line(prop, value, describe(hint))]
            return found
        if any(not _check(value, member, prop) for member in members):
            return []
        return [_line(prop, value, describe(hint))]
    if hint is type(None):
        return [] if value is None else [_line(prop, value, "None")]
    if origin is typing.Literal:
        return [] if value in args else [_line(prop, value, describe(hint))]
    if origin in (collections.abc.Sequence, list, collections.abc.Collection, tuple):
        return _check_sequence(value, hint, origin, args, prop)
    if origin in (collections.abc.Mapping, dict, collections.abc.MutableMapping):
        return _check_mapping(value, hint, args, prop)
    if origin is not None:
        return []  # other generics (Callable...): not checked
    if not isinstance(hint, type):
        return []
    return [] if _fits(value, hint) else [_line(prop, value, describe(hint))]


def _check_sequence(
    value: Any, hint: Any, origin: Any, args: tuple[Any, ...], prop: str
) -> list[str]:
    if isinstance(value, str | bytes) or not isinstance(value, collections.abc.Sequence):
        allowed = describe(hint)
        if isinstance(value, str):
            allowed += f", not a single string (e.g. [{value!r}])"
        return [_line(prop, value, allowed)]
    if origin is tuple and args and (len(args) != 2 or args[1] is not Ellipsis):
        if len(value) != len(args):
            return [_line(prop, value, describe(hint))]
        element_hints = list(args)
    else:
        element_hints = [args[0] if args else Any] * len(value)
    problems: list[str] = []
    for index, (element, element_hint) in enumerate(zip(value, element_hints, strict=True)):
        problems.extend(_check(element, element_hint, f"{prop}[{index}]"))
    return problems


def _check_mapping(value: Any, hint: Any, args: tuple[Any, ...], prop: str) -> list[str]:
    if not isinstance(value, collections.abc.Mapping):
        return [_line(prop, value, describe(hint))]
    key_hint, value_hint = args if len(args) == 2 else (Any, Any)
    problems: list[str] = []
    for key, element in value.items():
        problems.extend(_check(key, key_hint, f"{prop} key {key!r}"))
        problems.extend(_check(element, value_hint, f"{prop}[{key!r}]"))
    return problems


def _fits(value: Any, hint: type) -> bool:
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return (isinstance(value, int) and not isinstance(value, bool)) or _number_token(value)
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if _is_jsii_interface(hint):
        return _implements(value, hint)
    try:
        return isinstance(value, hint)
    except TypeError:  # a protocol that cannot be checked at run time
        return True


def _number_token(value: Any) -> bool:
    if not isinstance(value, float):
        return False
    from aws_cdk import Token  # local: this module is imported without aws_cdk too

    return Token.is_unresolved(value)


def _is_jsii_interface(hint: type) -> bool:
    return bool(getattr(hint, "_is_protocol", False)) and hasattr(hint, "__jsii_proxy_class__")


def _implements(value: Any, interface: type) -> bool:
    """Whether the jsii object ``value`` implements the jsii ``interface``: a class that
    declares it (or an interface extending it), or a proxy of an imported resource."""
    if value is None or isinstance(value, str | int | float | bool | list | tuple | dict):
        return False
    delegates = getattr(value, "_delegates", None)
    classes = [type(d) for d in delegates] if isinstance(delegates, list) else [type(value)]
    proxy = interface.__jsii_proxy_class__()  # type: ignore[attr-defined]
    for cls in classes:
        for klass in cls.__mro__:
            if klass is interface or (proxy is not None and klass is proxy):
                return True
            for declared in klass.__dict__.get("__jsii_ifaces__", ()):
                if interface in getattr(declared, "__mro__", ()):
                    return True
    return False


def _line(prop: str, value: Any, allowed: str) -> str:
    return f"{prop}={_show(value)}: {allowed}"


def describe(hint: Any) -> str:
    """What a value of type ``hint`` is, in words: ``"a list of strings"``."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        members = [describe(a) for a in args if a is not type(None)]
        text = " or ".join(members)
        return f"{text}, or None" if type(None) in args else text
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin in (collections.abc.Sequence, list, collections.abc.Collection) or (
        origin is tuple and len(args) == 2 and args[1] is Ellipsis
    ):
        element = _plural(args[0]) if args else "values"
        return f"a list of {element}"
    if origin is tuple:
        return "a tuple of " + ", ".join(describe(a) for a in args)
    if origin in (collections.abc.Mapping, dict, collections.abc.MutableMapping):
        if len(args) == 2:
            return f"a mapping of {_plural(args[0])} to {_plural(args[1])}"
        return "a mapping"
    if hint is None or hint is type(None):
        return "None"
    if hint is bool:
        return "True or False"
    if hint is int:
        return "a whole number"
    if hint is float:
        return "a number"
    if hint is str:
        return "a string"
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return "one of " + ", ".join(f"{hint.__name__}.{m.name}" for m in hint)
    if isinstance(hint, type):
        module = hint.__module__
        name = hint.__name__
        if module.startswith("aws_cdk."):
            name = f"{module.removeprefix('aws_cdk.')}.{name}"
        elif module == "aws_cdk":
            name = f"cdk.{name}"
        if _is_jsii_interface(hint):
            return f"{_article(name)} {name} (a construct, or one imported with from_...)"
        return f"{_article(name)} {name}"
    return str(hint)


def _plural(hint: Any) -> str:
    words = {str: "strings", int: "whole numbers", float: "numbers", bool: "booleans"}
    if hint in words:
        return words[hint]
    if isinstance(hint, type) and not issubclass(hint, enum.Enum):
        return describe(hint).split(" ", 1)[1].split(" (")[0] + "s"
    return describe(hint)


def _article(name: str) -> str:
    plain = name.rsplit(".", 1)[-1]
    interface = plain[:1] == "I" and plain[1:2].isupper()
    return "an" if interface or plain[:1].lower() in "aeio" else "a"
