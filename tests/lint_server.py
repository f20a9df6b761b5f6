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
import json
import sys
import traceback

import cfnlint.context.context
import cfnlint.jsonschema._filter
import cfnlint.jsonschema.validators
from cfnlint.config import ConfigMixIn
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


def main() -> int:
    cache_dataclass_fields()
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
