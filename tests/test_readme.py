"""The README's reuse code blocks are the examples in examples/, word for word.

The examples themselves are run as a consumer runs them in tests/test_examples.py; here the
README is checked against them, so the two cannot drift apart.
"""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import ROOT

EXAMPLES = ROOT / "examples"


def _reuse_section() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Reuse a construct in your own CDK app", 1)[1]
    return section.split("\n## ", 1)[0]


def _without_docstring(source: str) -> str:
    """An example's code after its module docstring (the README introduces it in prose)."""
    match = re.match(r'\s*""".*?"""\n+', source, re.DOTALL)
    return source[match.end() :] if match else source


def _examples() -> dict[str, str]:
    return {
        path.parent.name: _without_docstring(path.read_text())
        for path in sorted(EXAMPLES.glob("*/app.py"))
    }


def test_every_python_block_of_the_reuse_section_is_an_example() -> None:
    blocks = re.findall(r"```python\n(.*?)```", _reuse_section(), re.DOTALL)
    examples = _examples()
    assert blocks, "the README's reuse section has no python example"
    for block in blocks:
        matching = [name for name, code in examples.items() if code == block]
        assert matching, f"this README block is not an example in examples/:\n{block[:400]}"
    assert examples["lake"] in blocks  # the data lake example is shown in full


def test_the_reuse_section_names_every_example() -> None:
    section = _reuse_section()
    for name in _examples():
        assert f"examples/{name}/app.py" in section, name


def test_the_examples_import_only_the_public_surface() -> None:
    for name, path in ((p.parent.name, p) for p in EXAMPLES.glob("*/app.py")):
        imports = re.findall(r"^from (ml_blueprints[\w.]*) import", path.read_text(), re.M)
        assert set(imports) <= {"ml_blueprints.constructs", "ml_blueprints.compliance"}, name
        assert Path(path).read_text().startswith('"""'), f"{name}: say what the example shows"
