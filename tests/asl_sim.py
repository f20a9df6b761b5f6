"""A small Amazon States Language interpreter for testing state machines' control flow.

Tasks do not call AWS: the test gives a function per Task state name that returns the
task's result or raises :class:`TaskError` with an error name, and the interpreter applies
the state's ResultSelector, ResultPath, Retry (counted, not slept) and Catch, evaluates
Choice rules (StringEquals, IsPresent, And, Or, Not) and Pass parameters, and records the
path taken. Enough of JSONPath for ``$.a.b`` and ``$$.State.EnteredTime``.

With a ``context`` (the context object, e.g. ``{"Execution": {"StartTime": ...}}``), the
run is more literal: ``$$.`` paths are read from it, the intrinsic functions
``States.Format``, ``States.StringSplit``, ``States.ArrayGetItem`` and
``States.JsonToString`` are evaluated (nested too), and each task function receives its
state's rendered ``Parameters`` instead of the whole document.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

_MISSING = object()


class TaskError(Exception):
    """A task failure with States' error name (e.g. ``Glue.CrawlerRunningException``)."""

    def __init__(self, error: str, cause: str = "") -> None:
        super().__init__(error)
        self.error = error
        self.cause = cause


def _get(document: Any, path: str) -> Any:
    if path == "$":
        return document
    value = document
    for part in path.removeprefix("$.").split("."):
        if not isinstance(value, dict) or part not in value:
            return _MISSING
        value = value[part]
    return value


def _set(document: Any, path: str | None, value: Any) -> Any:
    if path is None:  # ResultPath: null -> discard the result
        return document
    if path == "$":
        return value
    result = copy.deepcopy(document)
    target = result
    parts = path.removeprefix("$.").split(".")
    for part in parts[:-1]:
        target = target.setdefault(part, {})
    target[parts[-1]] = value
    return result


def _render(template: Any, document: Any, context: dict[str, Any] | None = None) -> Any:
    if isinstance(template, dict):
        rendered = {}
        for key, value in template.items():
            if key.endswith(".$"):
                rendered[key[:-2]] = _evaluate(value, document, context)
            else:
                rendered[key] = _render(value, document, context)
        return rendered
    if isinstance(template, list):
        return [_render(item, document, context) for item in template]
    return template


def _split_arguments(text: str) -> list[str]:
    """The top-level, comma-separated arguments of an intrinsic call."""
    arguments, depth, quoted, current = [], 0, False, ""
    for char in text:
        if char == "'" and not current.endswith("\\"):
            quoted = not quoted
        if not quoted and char == "(":
            depth += 1
        elif not quoted and char == ")":
            depth -= 1
        if char == "," and depth == 0 and not quoted:
            arguments.append(current.strip())
            current = ""
        else:
            current += char
    if current.strip():
        arguments.append(current.strip())
    return arguments


def _intrinsic(expression: str, document: Any, context: dict[str, Any]) -> Any:
    expression = expression.strip()
    if expression.startswith("'") and expression.endswith("'"):
        return expression[1:-1]
    if expression.lstrip("-").isdigit():
        return int(expression)
    if expression.startswith("$$."):
        value = _get(context, "$." + expression[3:])
        if value is _MISSING:
            raise TaskError("States.Runtime", f"no context value {expression}")
        return value
    if expression.startswith("$"):
        value = _get(document, expression)
        if value is _MISSING:
            raise TaskError("States.Runtime", f"path {expression} not found")
        return value
    name, _, rest = expression.partition("(")
    arguments = [_intrinsic(a, document, context) for a in _split_arguments(rest[:-1])]
    if name == "States.Format":
        template, *values = arguments
        pieces = template.split("{}")
        if len(pieces) != len(values) + 1:
            raise TaskError("States.Runtime", f"{len(values)} arguments for {template!r}")
        out = pieces[0]
        for value, piece in zip(values, pieces[1:], strict=True):
            out += (value if isinstance(value, str) else json.dumps(value)) + piece
        return out
    if name == "States.StringSplit":
        text, separator = arguments
        return [part for part in text.split(separator) if part]
    if name == "States.ArrayGetItem":
        array, index = arguments
        return array[index]
    if name == "States.JsonToString":
        return json.dumps(arguments[0], separators=(",", ":"))
    raise NotImplementedError(name)


def _evaluate(expression: str, document: Any, context: dict[str, Any] | None = None) -> Any:
    if context is not None:
        return _intrinsic(expression, document, context)
    if expression.startswith("$$."):
        return "2026-11-24T00:00:00Z"  # context object: the tests only need a value
    if expression.startswith("States.Format("):
        return f"formatted-{len(expression)}"  # intrinsic: a stable stand-in value
    if expression.startswith("States.JsonToString("):
        value = _get(document, expression[len("States.JsonToString(") : -1])
        if value is _MISSING:
            raise TaskError("States.Runtime", f"no {expression}")
        return json.dumps(value)
    value = _get(document, expression)
    if value is _MISSING:
        raise TaskError("States.Runtime", f"path {expression} not found")
    return value


def _holds(rule: dict[str, Any], document: Any) -> bool:
    if "And" in rule:
        return all(_holds(r, document) for r in rule["And"])
    if "Or" in rule:
        return any(_holds(r, document) for r in rule["Or"])
    if "Not" in rule:
        return not _holds(rule["Not"], document)
    value = _get(document, rule["Variable"])
    if "IsPresent" in rule:
        return (value is not _MISSING) == rule["IsPresent"]
    if value is _MISSING:
        raise TaskError("States.Runtime", f"choice on missing {rule['Variable']}")
    if "StringEquals" in rule:
        return value == rule["StringEquals"]
    raise NotImplementedError(rule)


def _matches(errors: list[str], error: str) -> bool:
    return "States.ALL" in errors or error in errors


def run(
    definition: dict[str, Any],
    tasks: dict[str, Callable[[Any], Any]],
    execution_input: Any | None = None,
    max_steps: int = 200,
    context: dict[str, Any] | None = None,
) -> tuple[str, list[str], Any]:
    """Run ``definition``; returns (``"SUCCEEDED"``/``"FAILED"``, states visited, output).
    With ``context``, see the module docstring."""
    document = execution_input if execution_input is not None else {}
    state_name = definition["StartAt"]
    visited: list[str] = []
    for _ in range(max_steps):
        visited.append(state_name)
        state = definition["States"][state_name]
        kind = state["Type"]
        if kind == "Succeed":
            return "SUCCEEDED", visited, document
        if kind == "Fail":
            return "FAILED", visited, document
        if kind == "Wait":
            state_name = state["Next"]
            continue
        if kind == "Choice":
            state_name = next(
                (c["Next"] for c in state.get("Choices", []) if _holds(c, document)),
                state.get("Default"),
            )
            continue
        if kind == "Pass":
            result = (
                _render(state["Parameters"], document, context)
                if "Parameters" in state
                else document
            )
            document = _set(document, state.get("ResultPath", "$"), result)
            state_name = state["Next"]
            continue
        assert kind == "Task", kind
        attempts = 0
        while True:
            try:
                argument = (
                    document
                    if context is None
                    else _render(state.get("Parameters", {}), document, context)
                )
                result = tasks[state_name](argument)
                break
            except TaskError as error:
                retry = next(
                    (r for r in state.get("Retry", []) if _matches(r["ErrorEquals"], error.error)),
                    None,
                )
                attempts += 1
                if retry is not None and attempts < retry.get("MaxAttempts", 3) + 1:
                    continue
                catch = next(
                    (c for c in state.get("Catch", []) if _matches(c["ErrorEquals"], error.error)),
                    None,
                )
                if catch is None:
                    return "FAILED", visited, document
                document = _set(
                    document,
                    catch.get("ResultPath", "$"),
                    {"Error": error.error, "Cause": error.cause},
                )
                state_name = catch["Next"]
                break
        else:  # pragma: no cover
            raise AssertionError("unreachable")
        if visited[-1] != state_name:
            continue  # caught: already moved on
        if "ResultSelector" in state:
            result = _render(state["ResultSelector"], result, context and {})
        document = _set(document, state.get("ResultPath", "$"), result)
        if state.get("End"):
            return "SUCCEEDED", visited, document
        state_name = state["Next"]
    raise AssertionError(f"no end after {max_steps} steps: {visited[-10:]}")
