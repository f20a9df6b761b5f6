"""Each layer deploys on its own: whatever a stack's resources need at create time is created
in that stack or in a stack it depends on (and so is deployed before it).

The first deploy of RealTime alone failed with ``EntityNotFoundException: Database
mlbp_dev_streaming not found``: its Glue table named a database no stack created. These
checks read every synthesized template and the cloud assembly's dependency graph, so such a
gap fails at synth time; ``make deploy-test`` proves the same on an emulator.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from tests.conftest import Synthesized

#: Where a resource names a Glue database it needs to exist: (type, path to the name).
#: Tables and partitions are refused by Glue without their database; a Firehose conversion
#: reads its schema from the table; crawlers and named queries run against the database.
GLUE_DATABASE_REFERENCES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("AWS::Glue::Table", ("DatabaseName",)),
    ("AWS::Glue::Partition", ("DatabaseName",)),
    ("AWS::Glue::Crawler", ("DatabaseName",)),
    ("AWS::Athena::NamedQuery", ("Database",)),
    (
        "AWS::KinesisFirehose::DeliveryStream",
        (
            "ExtendedS3DestinationConfiguration",
            "DataFormatConversionConfiguration",
            "SchemaConfiguration",
            "DatabaseName",
        ),
    ),
)
#: Types CloudFormation creates only once their database exists: in the same stack they must
#: depend on it explicitly (a name is a plain string, not a reference CloudFormation orders by).
NEEDS_DATABASE_FIRST = {"AWS::Glue::Table", "AWS::Glue::Partition"}


def _assembly(app: Synthesized) -> tuple[dict[str, dict[str, Any]], dict[str, list[str]]]:
    """The app's stack templates and each stack's dependencies, from the cloud assembly."""
    manifest = json.loads((app.outdir / "manifest.json").read_text())
    stacks = {
        artifact_id: artifact
        for artifact_id, artifact in manifest["artifacts"].items()
        if artifact["type"] == "aws:cloudformation:stack"
    }
    templates = {stack_id: app.template_json(stack_id) for stack_id in stacks}
    dependencies = {
        stack_id: [d for d in artifact.get("dependencies", []) if d in stacks]
        for stack_id, artifact in stacks.items()
    }
    return templates, dependencies


def deployed_before(dependencies: dict[str, list[str]], stack_id: str) -> set[str]:
    """Every stack ``stack_id`` depends on, directly or not (CDK deploys them first)."""
    seen: set[str] = set()
    pending = list(dependencies[stack_id])
    while pending:
        dependency = pending.pop()
        if dependency not in seen:
            seen.add(dependency)
            pending += dependencies[dependency]
    return seen


def _databases(template: dict[str, Any]) -> dict[str, str]:
    """Glue databases a template creates: name -> logical id."""
    return {
        resource["Properties"]["DatabaseInput"]["Name"]: logical_id
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Glue::Database"
    }


def _dig(properties: dict[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = properties
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def glue_database_problems(
    templates: dict[str, dict[str, Any]], dependencies: dict[str, list[str]]
) -> tuple[int, list[str]]:
    """(references checked, problems): each Glue database a resource names must be created
    in its stack (and, for a table, before it) or in a stack deployed before it, and each
    database is created once (a second ``AWS::Glue::Database`` of the same name fails on
    deploy with AlreadyExistsException)."""
    problems: list[str] = []
    checked = 0
    creators: dict[str, list[str]] = {}
    for stack_id, template in templates.items():
        for name, logical_id in _databases(template).items():
            creators.setdefault(name, []).append(f"{stack_id}/{logical_id}")
    problems += [
        f"Glue database {name!r} is created more than once: {', '.join(where)}"
        for name, where in creators.items()
        if len(where) > 1
    ]
    for stack_id, template in templates.items():
        own = _databases(template)
        available = set(own)
        for before in deployed_before(dependencies, stack_id):
            available |= set(_databases(templates[before]))
        wanted = dict(GLUE_DATABASE_REFERENCES)
        for logical_id, resource in template["Resources"].items():
            path = wanted.get(resource["Type"])
            name = _dig(resource.get("Properties", {}), path) if path else None
            if name is None:
                continue
            checked += 1
            where = f"{stack_id}/{logical_id} ({resource['Type']})"
            if not isinstance(name, str):
                problems.append(f"{where}: database named by {json.dumps(name)}")
            elif name not in available:
                problems.append(
                    f"{where} needs Glue database {name!r}, which neither {stack_id} nor a "
                    "stack it depends on creates"
                )
            elif (
                resource["Type"] in NEEDS_DATABASE_FIRST
                and name in own
                and own[name] not in resource.get("DependsOn", [])
            ):
                problems.append(
                    f"{where} does not depend on {own[name]}, the database it is created in: "
                    "CloudFormation may create it first"
                )
    return checked, problems


@pytest.mark.parametrize("app_fixture", ["project", "sandbox_project"])
def test_every_glue_database_a_layer_uses_is_created_by_it_or_a_layer_before_it(
    app_fixture: str, request: pytest.FixtureRequest
) -> None:
    checked, problems = glue_database_problems(*_assembly(request.getfixturevalue(app_fixture)))
    assert checked >= 4, checked  # RealTime's table, Analytics' crawlers and named queries
    assert problems == []


#: The layers each layer needs deployed first, and nothing more: "RealTime without
#: Analytics". Serving's results table stands alone; the ML layer records its runs in it;
#: the warehouse (opt-in, in ``sandbox_project``) maps the analytics layer's Glue database;
#: the ingestion layer feeds the real-time layer's stream and exports the results table.
PREREQUISITES: dict[str, dict[str, set[str]]] = {
    "project": {
        "DataLake": set(),
        "RealTime": {"DataLake"},
        "Analytics": {"DataLake"},
        "Serving": set(),
        "Ml": {"DataLake", "Serving"},
        "Governance": {"DataLake"},
        "Ingestion": {"DataLake", "RealTime", "Serving"},
    },
    "sandbox_project": {
        "DataLake": set(),
        "RealTime": {"DataLake"},
        "Analytics": {"DataLake"},
        "Serving": {"DataLake", "Analytics"},
        "Ml": {"DataLake", "Analytics", "Serving"},
        "Governance": {"DataLake"},
        "Emr": {"DataLake"},
        "Ingestion": {"DataLake", "RealTime", "Analytics", "Serving"},
    },
}


@pytest.mark.parametrize("app_fixture", ["project", "sandbox_project"])
def test_each_layer_needs_only_the_layers_it_uses(
    app_fixture: str, request: pytest.FixtureRequest
) -> None:
    _, dependencies = _assembly(request.getfixturevalue(app_fixture))
    expected = PREREQUISITES[app_fixture]
    assert set(dependencies) == set(expected)
    for stack_id, before in expected.items():
        assert deployed_before(dependencies, stack_id) == before, stack_id


def test_the_check_catches_a_table_whose_database_no_stack_creates(project: Synthesized) -> None:
    # The failure the first deploy met, replayed on the real templates: RealTime's table
    # naming a database that nothing creates; the database created twice; created but not
    # ordered before the table.
    templates, dependencies = _assembly(project)
    resources = copy.deepcopy(templates["RealTime"]["Resources"])
    database_id = _databases(templates["RealTime"])["mlbp_dev_streaming"]
    without = {**templates, "RealTime": {"Resources": dict(resources)}}
    del without["RealTime"]["Resources"][database_id]
    _, problems = glue_database_problems(without, dependencies)
    assert len(problems) == 1
    assert "needs Glue database 'mlbp_dev_streaming', which neither RealTime nor" in problems[0]

    twice = {**templates, "Copy": copy.deepcopy(templates["RealTime"])}
    _, problems = glue_database_problems(twice, {**dependencies, "Copy": ["DataLake"]})
    assert problems == [
        "Glue database 'mlbp_dev_streaming' is created more than once: "
        f"RealTime/{database_id}, Copy/{database_id}"
    ]

    unordered = {**templates, "RealTime": {"Resources": resources}}
    for resource in resources.values():
        if resource["Type"] == "AWS::Glue::Table":
            resource["DependsOn"] = [d for d in resource["DependsOn"] if d != database_id]
    _, problems = glue_database_problems(unordered, dependencies)
    assert len(problems) == 1
    assert f"does not depend on {database_id}" in problems[0]
