"""The session's cfn-lint process (tests/lint_server.py) gives what the cfn-lint command gives:
the cfn-lint tests of the apps and examples pass only as long as it finds nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import lint_server

#: A bucket with a property that does not exist, a queue with a delay that is not a number.
BAD = {
    "Resources": {
        "Bucket": {"Type": "AWS::S3::Bucket", "Properties": {"Colour": "red"}},
        "Queue": {"Type": "AWS::SQS::Queue", "Properties": {"DelaySeconds": "soon"}},
    }
}
GOOD = {"Resources": {"Queue": {"Type": "AWS::SQS::Queue"}}}


def _key(match: dict) -> tuple:
    return (match["Rule"]["Id"], match["Level"], match["Filename"], match["Message"])


def test_each_batch_gets_the_matches_the_command_gives_for_it(tmp_path: Path) -> None:
    bad, good = tmp_path / "Bad.template.json", tmp_path / "Good.template.json"
    bad.write_text(json.dumps(BAD, indent=1))
    good.write_text(json.dumps(GOOD, indent=1))
    server = lint_server()
    first, second, nothing = (server.submit(batch) for batch in ([str(bad)], [str(good)], []))
    command = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), "--format", "json", str(bad)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert command.returncode == 2, command.stderr  # errors found
    expected = json.loads(command.stdout)
    matches = first.result(timeout=300)
    assert sorted(map(_key, matches)) == sorted(map(_key, expected))
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
