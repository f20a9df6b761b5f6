"""The session's cfn-lint process (tests/lint_server.py) gives what cfn-lint itself gives:
the cfn-lint tests of the apps and examples pass only as long as it finds nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cfnlint.api import lint
from cfnlint.context.context import Context
from cfnlint.context.context import Path as LintPath

from tests.conftest import lint_server
from tests.lint_server import evolve_context

#: A bucket with a property that does not exist, a queue with a delay that is not a number.
BAD = {
    "Resources": {
        "Bucket": {"Type": "AWS::S3::Bucket", "Properties": {"Colour": "red"}},
        "Queue": {"Type": "AWS::SQS::Queue", "Properties": {"DelaySeconds": "soon"}},
    }
}
GOOD = {"Resources": {"Queue": {"Type": "AWS::SQS::Queue"}}}


def test_each_batch_gets_the_matches_cfn_lint_gives_for_it(tmp_path: Path) -> None:
    bad, good = tmp_path / "Bad.template.json", tmp_path / "Good.template.json"
    bad.write_text(json.dumps(BAD, indent=1))
    good.write_text(json.dumps(GOOD, indent=1))
    server = lint_server()
    first, second, nothing = (server.submit(batch) for batch in ([str(bad)], [str(good)], []))
    # cfn-lint's own API, in this process (the report's lint loads it here anyway)
    expected = [(m.rule.id, m.message, m.linenumber) for m in lint(bad.read_text())]
    matches = first.result(timeout=300)
    assert sorted(
        (m["Rule"]["Id"], m["Message"], m["Location"]["Start"]["LineNumber"]) for m in matches
    ) == sorted(expected)
    assert {m["Filename"] for m in matches} == {str(bad)}
    assert {m["Level"] for m in matches} == {"Error"}
    assert {m["Rule"]["Id"] for m in matches} >= {"E3002", "E3012"}, matches
    assert second.result(timeout=300) == []
    assert nothing.result(timeout=300) == []


def test_a_template_that_is_not_json_is_an_error_of_its_batch_only(tmp_path: Path) -> None:
    broken = tmp_path / "Broken.template.json"
    broken.write_text('{"Resources": {')
    server = lint_server()
    matches = server.submit([str(broken)]).result(timeout=300)
    assert [m["Rule"]["Id"] for m in matches] == ["E0000"], matches
    good = tmp_path / "Good.template.json"
    good.write_text(json.dumps(GOOD))
    assert server.submit([str(good)]).result(timeout=300) == []


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"ref_values": {"Bucket": "name"}},
        {"ref_values": {"Known": "replaced"}, "strict_types": False},
        {"path": LintPath().descend(path="Resources", cfn_path="Resources")},
        {"regions": ["eu-west-1", "us-east-1"], "functions": ["Fn::Sub"], "resources": {}},
    ],
)
def test_the_servers_context_evolve_gives_what_cfn_lints_gives(changes: dict) -> None:
    """The server evolves cfn-lint's contexts without their frozen __init__ (see
    tests/lint_server.py); here, in this process, cfn-lint's own evolve is the reference."""
    context = Context(regions=["us-east-1"], ref_values={"Known": "value"}, strict_types=True)
    assert context.module_names == ()  # cached on the instance: not to be carried over
    evolved = evolve_context(context, **dict(changes))
    expected = context.evolve(**dict(changes))
    assert type(evolved) is Context
    assert evolved == expected
    assert vars(evolved) == {key: getattr(expected, key) for key in vars(evolved)}
    assert "module_names" not in vars(evolved)
    assert context.ref_values == {"Known": "value"}  # the original is left as it was


def test_the_servers_context_evolve_refuses_what_cfn_lint_refuses() -> None:
    with pytest.raises(TypeError, match="colour"):
        evolve_context(Context(), colour="red")
