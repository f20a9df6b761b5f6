"""cfn-lint as one long-lived process for a test session (started by tests/conftest.py).

cfn-lint spends about a second importing itself and loading its rules before it reads a
template, and the session lints several apps that are ready at different times. This
process loads the rules once, then reads batches of templates from stdin, one JSON array
of paths per line, and answers each batch, in order, with one line on stdout: the JSON list
of its matches, in the shape of `cfn-lint --format json`, or, if cfn-lint failed, an object
with the traceback under "error". It ends at the end of stdin.

The configuration is cfn-lint's default (the command line with only ``--template``), as in
the command `cfn-lint --format json <templates>` it replaces.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import inspect
import json
import sys
import traceback
from typing import Any

import cfnlint.context.context
import cfnlint.jsonschema._filter
import cfnlint.jsonschema.validators
from cfnlint.config import ConfigMixIn
from cfnlint.context.context import Context
from cfnlint.formatters import JsonFormatter
from cfnlint.runner import Runner
from cfnlint.runner.template.runner import run_template_by_file_paths


def cache_dataclass_fields() -> None:
    """cfn-lint copies its validator and context dataclasses about a million times a session
    (``evolve``), and each copy asks :func:`dataclasses.fields` for the class's fields again:
    8 % of its time. A class's fields do not change once it is defined, so each class is asked
    once. tests/test_lint_server.py checks that the answers are cfn-lint's own."""
    fields = functools.cache(dataclasses.fields)
    for module in (
        cfnlint.context.context,
        cfnlint.jsonschema.validators,
        cfnlint.jsonschema._filter,
    ):
        assert module.fields is dataclasses.fields, module.__name__  # a newer cfn-lint: look again
        module.fields = fields


#: cfn-lint's ``Context.evolve`` as :func:`evolve_context` was written against (a hash of its
#: source): a newer cfn-lint that changes it stops the server until it is looked at again.
CONTEXT_EVOLVE_SOURCE = "05aa695393629cc4"
_CONTEXT_FIELDS = tuple(field.name for field in dataclasses.fields(Context))
_FIELD_NAMES = frozenset(_CONTEXT_FIELDS)
_original_evolve = Context.evolve


def evolve_context(context: Context, **changes: Any) -> Context:
    """``context.evolve(**changes)`` without the frozen dataclass's ``__init__``.

    cfn-lint evolves a context about 370,000 times a session. The frozen ``__init__`` sets
    each of its 17 fields through ``object.__setattr__``; this sets them in the new object's
    ``__dict__`` (as ``dataclasses.replace`` would, with no ``__post_init__`` to run), and
    merges ``ref_values`` as cfn-lint's ``evolve`` does. tests/test_lint_server.py compares
    the two."""
    if type(context) is not Context or not changes.keys() <= _FIELD_NAMES:
        return _original_evolve(context, **changes)  # a subclass; or cfn-lint's TypeError
    if "ref_values" in changes:
        changes["ref_values"] = {**context.ref_values, **changes["ref_values"]}
    evolved = object.__new__(Context)
    attributes = evolved.__dict__
    for name in _CONTEXT_FIELDS:
        attributes[name] = changes[name] if name in changes else getattr(context, name)
    return evolved


def fast_context_evolve() -> None:
    """Evolve cfn-lint's contexts with :func:`evolve_context` (5 to 8 % of its time)."""
    source = hashlib.sha256(inspect.getsource(Context.evolve).encode()).hexdigest()[:16]
    assert source == CONTEXT_EVOLVE_SOURCE, "a newer cfn-lint: look at Context.evolve again"
    params = Context.__dataclass_params__  # type: ignore[attr-defined]
    assert params.frozen and not hasattr(Context, "__post_init__")
    assert all(field.init for field in dataclasses.fields(Context))
    Context.evolve = evolve_context  # type: ignore[method-assign]


def main() -> int:
    cache_dataclass_fields()
    fast_context_evolve()
    rules = Runner(ConfigMixIn([])).rules
    formatter = JsonFormatter()
    for line in sys.stdin:
        templates = json.loads(line)
        try:
            config = ConfigMixIn(["--template", *templates]) if templates else None
            matches = list(run_template_by_file_paths(config, rules)) if config else []
            answer = json.loads(formatter.print_matches(matches, rules, config) or "[]")
        except BaseException:  # the batch's answer; the next batch goes on
            answer = {"error": traceback.format_exc()}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
