"""ServingStack: the results table always; the warehouse only with -c warehouse=true, which
also widens the data lake's VPC to three AZs and orders the stack after the analytics layer."""

from __future__ import annotations

import json
from collections import Counter

from tests.conftest import Synthesized


def test_by_default_only_the_results_table_and_its_key(project: Synthesized) -> None:
    resources = project.template_json("Serving")["Resources"].values()
    assert Counter(r["Type"] for r in resources) == {
        "AWS::DynamoDB::GlobalTable": 1,
        "AWS::KMS::Key": 1,
    }
    # Besides its own, CDK publishes what the ingestion layer references (PublishOutput...).
    outputs = {
        k: v
        for k, v in project.template_json("Serving")["Outputs"].items()
        if not k.startswith("PublishOutput")
    }
    assert set(outputs) == {"ResultsTableName", "ResultsTableArn"}
    manifest = json.loads((project.outdir / "manifest.json").read_text())
    serving = manifest["artifacts"]["Serving"]
    assert serving["properties"]["stackName"] == "mlbp-dev-serving"
    assert "Analytics" not in serving.get("dependencies", [])
    # The network keeps its two AZs while the warehouse is off.
    subnets = project.resources("DataLake", "AWS::EC2::Subnet")
    assert len(subnets) == 2


def test_the_warehouse_opt_in(sandbox_project: Synthesized) -> None:
    types = Counter(
        r["Type"] for r in sandbox_project.template_json("Serving")["Resources"].values()
    )
    assert types["AWS::RedshiftServerless::Namespace"] == 1
    assert types["AWS::RedshiftServerless::Workgroup"] == 1
    assert types["Custom::RedshiftExternalSchema"] == 1
    assert types["Custom::RedshiftUsageLimit"] == 1
    # Besides its own, CDK publishes what the ingestion layer references (PublishOutput...).
    outputs = {
        k: v
        for k, v in sandbox_project.template_json("Serving")["Outputs"].items()
        if not k.startswith("PublishOutput")
    }
    assert set(outputs) == {
        "ResultsTableName",
        "ResultsTableArn",
        "WorkgroupName",
        "WorkgroupEndpoint",
        "NamespaceName",
        "ExternalSchema",
        "SpectrumRoleArn",
        "WarehouseSecurityGroupId",
    }
    assert outputs["WorkgroupName"]["Value"] == "mlbp-sbx-warehouse"
    assert outputs["ExternalSchema"]["Value"] == "lake"
    manifest = json.loads((sandbox_project.outdir / "manifest.json").read_text())
    # The external schema maps the analytics layer's database: deployed after it.
    assert {"DataLake", "Analytics"} <= set(manifest["artifacts"]["Serving"]["dependencies"])
    [database] = sandbox_project.resources("Analytics", "AWS::Glue::Database").values()
    [schema] = sandbox_project.resources("Serving", "Custom::RedshiftExternalSchema").values()
    assert (
        schema["Properties"]["CatalogDatabase"] == database["Properties"]["DatabaseInput"]["Name"]
    )


def test_the_warehouse_widens_the_network_to_three_azs_chosen_at_deploy_time(
    sandbox_project: Synthesized,
) -> None:
    subnets = sandbox_project.resources("DataLake", "AWS::EC2::Subnet").values()
    azs = sorted(json.dumps(s["Properties"]["AvailabilityZone"]) for s in subnets)
    assert azs == [json.dumps({"Fn::Select": [index, {"Fn::GetAZs": ""}]}) for index in range(3)]
    [endpoint] = [
        e
        for e in sandbox_project.resources("DataLake", "AWS::EC2::VPCEndpoint").values()
        if e["Properties"]["VpcEndpointType"] == "Gateway"
        and "s3" in json.dumps(e["Properties"]["ServiceName"])
    ]
    assert len(endpoint["Properties"]["RouteTableIds"]) == 3  # every subnet reaches S3 privately
