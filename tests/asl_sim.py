"""A small Amazon States Language interpreter for testing state machines' control flow.

Tasks do not call AWS: the test gives a function per Task state name that returns the
task's result or raises :class:`TaskError` with an error name, and the interpreter applies
the state's ResultSelector, ResultPath, Retry (counted, not slept) and Catch, evaluates
Choice rules (StringEquals, IsPresent, And, Or, Not) and Pass parameters, and records the
path taken. Enough of JSONPath for ``$.a.b`` and ``$$.State.EnteredTime``.
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


def _render(template: Any, document: Any) -> Any:
    if isinstance(template, dict):
        rendered = {}
        for key, value in template.items():
            if key.endswith(".$"):
                rendered[key[:-2]] = _evaluate(value, document)
            else:
                rendered[key] = _render(value, document)
        return rendered
    if isinstance(template, list):
        return [_render(item, document) for item in template]
    return template


def _evaluate(expression: str, document: Any) -> Any:
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
) -> tuple[str, list[str], Any]:
    """Run ``definition``; returns (``"SUCCEEDED"``/``"FAILED"``, states visited, output)."""
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
            result = _render(state["Parameters"], document) if "Parameters" in state else document
            document = _set(document, state.get("ResultPath", "$"), result)
            state_name = state["Next"]
            continue
        assert kind == "Task", kind
        attempts = 0
        while True:
            try:
                result = tasks[state_name](document)
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
            result = _render(state["ResultSelector"], result)
        document = _set(document, state.get("ResultPath", "$"), result)
        if state.get("End"):
            return "SUCCEEDED", visited, document
        state_name = state["Next"]
    raise AssertionError(f"no end after {max_steps} steps: {visited[-10:]}")
