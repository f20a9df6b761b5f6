"""AnalyticsStack: composes the catalog, job and workflow over the data lake layer's lake."""

from __future__ import annotations

import json

from tests.conftest import Synthesized


def test_outputs_name_the_database_workgroup_job_and_state_machine(project: Synthesized) -> None:
    outputs = project.template_json("Analytics")["Outputs"]
    assert set(outputs) == {
        "DatabaseName",
        "WorkGroupName",
        "EtlJobName",
        "StateMachineName",
        "StateMachineArn",
        "RawCrawlerName",
    }
    assert outputs["DatabaseName"]["Value"] == "mlbp_dev_lake"
    assert outputs["WorkGroupName"]["Value"] == "mlbp-dev-lake"
    assert outputs["EtlJobName"]["Value"] == "mlbp-dev-lake-raw-to-curated"
    manifest = json.loads((project.outdir / "manifest.json").read_text())
    assert manifest["artifacts"]["Analytics"]["properties"]["stackName"] == "mlbp-dev-analytics"
    assert "DataLake" in manifest["artifacts"]["Analytics"]["dependencies"]


def test_service_roles_are_named_for_the_lakes_exemption(project: Synthesized) -> None:
    lake = project.stack("DataLake").lake
    names = [
        r["Properties"].get("RoleName")
        for r in project.resources("Analytics", "AWS::IAM::Role").values()
    ]
    glue_roles = [n for n in names if n]
    assert sorted(glue_roles) == ["mlbp-dev-svc-crawler", "mlbp-dev-svc-etl-job"]
    assert all(lake.exempts_role_name(n) for n in glue_roles)


def test_sandbox_deletes_the_workgroup_with_its_queries(
    project: Synthesized, sandbox_project: Synthesized
) -> None:
    [workgroup] = sandbox_project.resources("Analytics", "AWS::Athena::WorkGroup").values()
    assert workgroup["Properties"]["RecursiveDeleteOption"] is True
    assert workgroup["DeletionPolicy"] == "Delete"
    [retained] = project.resources("Analytics", "AWS::Athena::WorkGroup").values()
    assert retained["Properties"]["RecursiveDeleteOption"] is False
    assert retained["DeletionPolicy"] == "Retain"
