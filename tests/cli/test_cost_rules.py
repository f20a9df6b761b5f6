"""The pricing rules on resources the project's app does not make (or makes one way only)."""

from __future__ import annotations

from typing import Any

import pytest

from ml_blueprints.cost import CostClass, price_table
from ml_blueprints.cost.rules import (
    DAYS_PER_MONTH,
    RULES,
    RuleContext,
    runs_per_month,
)


def _price(resource_type: str, rule: str, resources: dict[str, Any] | None = None, **props: Any):
    resource = {"Type": resource_type, "Properties": props}
    context = RuleContext(
        resources={"It": resource, **(resources or {})},
        prices=price_table(),
        hours_per_month=730,
    )
    return RULES[rule](resource, context)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("cron(15 2 * * ? *)", DAYS_PER_MONTH),
        ("cron(0/15 * * * ? *)", 96 * DAYS_PER_MONTH),
        ("cron(0 8 ? * MON-FRI *)", 5 * DAYS_PER_MONTH / 7),
        ("cron(0 8 ? * 2,4,6 *)", 3 * DAYS_PER_MONTH / 7),
        ("cron(0 0 1 * ? *)", 1),
        ("cron(0 0 1 1 ? *)", 1 / 12),
        ("rate(1 hour)", DAYS_PER_MONTH * 24),
        ("rate(5 minutes)", DAYS_PER_MONTH * 288),
        ("rate(2 days)", DAYS_PER_MONTH / 2),
    ],
)
def test_schedules_become_runs_a_month(expression: str, expected: float) -> None:
    assert runs_per_month(expression) == pytest.approx(expected)


@pytest.mark.parametrize("expression", ["cron(1 2 3)", "at(2026-01-01T00:00:00)", "daily"])
def test_unreadable_schedules_are_not_guessed(expression: str) -> None:
    assert runs_per_month(expression) is None


def test_provisioned_stream_with_extended_retention() -> None:
    pricing = _price(
        "AWS::Kinesis::Stream",
        "kinesis_stream",
        ShardCount=4,
        RetentionPeriodHours=168,
        StreamModeDetails={"StreamMode": "PROVISIONED"},
    )
    assert pricing.idle_usd_month == pytest.approx(4 * (0.015 + 0.02) * 730)
    assert pricing.prices == ["kinesis_shard_hour", "kinesis_extended_retention_shard_hour"]


def test_a_stream_without_a_mode_is_provisioned_with_one_shard() -> None:
    assert _price("AWS::Kinesis::Stream", "kinesis_stream").idle_usd_month == pytest.approx(
        0.015 * 730
    )


def test_alarms_by_resolution_and_metric_count() -> None:
    assert _price("AWS::CloudWatch::Alarm", "cloudwatch_alarm", Period=10).idle_usd_month == 0.30
    math_alarm = _price(
        "AWS::CloudWatch::Alarm",
        "cloudwatch_alarm",
        Metrics=[
            {"Id": "a", "MetricStat": {"Period": 60}},
            {"Id": "b", "MetricStat": {"Period": 60}},
            {"Id": "e", "Expression": "a+b"},
        ],
    )
    assert math_alarm.idle_usd_month == pytest.approx(0.20)
    anomaly = _price(
        "AWS::CloudWatch::Alarm",
        "cloudwatch_alarm",
        Metrics=[
            {"Id": "m", "MetricStat": {"Period": 300}},
            {"Id": "band", "Expression": "ANOMALY_DETECTION_BAND(m, 2)"},
        ],
    )
    assert anomaly.idle_usd_month == pytest.approx(0.30)
    composite = _price("AWS::CloudWatch::CompositeAlarm", "cloudwatch_composite_alarm")
    assert composite.idle_usd_month == 0.50


def test_endpoints_gateways_and_addresses() -> None:
    gateway = _price("AWS::EC2::VPCEndpoint", "vpc_endpoint")  # CloudFormation's default type
    assert gateway.cost_class is CostClass.FREE and gateway.idle_usd_month == 0
    unknown_subnets = _price(
        "AWS::EC2::VPCEndpoint",
        "vpc_endpoint",
        VpcEndpointType="Interface",
        SubnetIds={"Fn::Split": [",", "a,b,c"]},
    )
    assert unknown_subnets.idle_usd_month == pytest.approx(2 * 0.01 * 730)
    assert "2 assumed" in unknown_subnets.basis
    balancer = _price(
        "AWS::EC2::VPCEndpoint", "vpc_endpoint", VpcEndpointType="GatewayLoadBalancer"
    )
    assert balancer.unpriced and balancer.cost_class is CostClass.HOURLY
    assert _price("AWS::EC2::NatGateway", "nat_gateway").idle_usd_month == pytest.approx(32.85)
    assert _price("AWS::EC2::EIP", "public_ipv4").idle_usd_month == pytest.approx(3.65)


def test_instances_priced_only_from_the_table() -> None:
    priced = _price("AWS::EC2::Instance", "ec2_instance", InstanceType="m7i.xlarge")
    assert priced.idle_usd_month == pytest.approx(0.2016 * 730)
    unknown = _price("AWS::EC2::Instance", "ec2_instance", InstanceType="x2iedn.32xlarge")
    assert unknown.unpriced and unknown.idle_usd_month == 0


def test_dynamodb_on_demand_is_usage_and_provisioned_is_hourly() -> None:
    on_demand = _price("AWS::DynamoDB::Table", "dynamodb_table", BillingMode="PAY_PER_REQUEST")
    assert on_demand.cost_class is CostClass.USAGE
    provisioned = _price("AWS::DynamoDB::Table", "dynamodb_table")
    assert provisioned.cost_class is CostClass.HOURLY and provisioned.unpriced


def test_glue_jobs_by_capacity_and_by_their_own_schedules() -> None:
    legacy = _price("AWS::Glue::Job", "glue_job", MaxCapacity=5)
    assert legacy.run_usd_hour == pytest.approx(5 * 0.44) and legacy.idle_usd_month == 0
    shell = _price("AWS::Glue::Job", "glue_job", Command={"Name": "pythonshell"})
    assert shell.run_usd_hour == pytest.approx(0.0625 * 0.44)
    hourly_trigger = {
        "Trigger": {
            "Type": "AWS::Glue::Trigger",
            "Properties": {
                "Type": "SCHEDULED",
                "Schedule": "cron(0 * * * ? *)",
                "Actions": [{"JobName": {"Ref": "It"}}],
            },
        },
        "OnDemand": {
            "Type": "AWS::Glue::Trigger",
            "Properties": {"Type": "ON_DEMAND", "Actions": [{"JobName": {"Ref": "It"}}]},
        },
    }
    scheduled = _price(
        "AWS::Glue::Job", "glue_job", hourly_trigger, NumberOfWorkers=10, WorkerType="G.2X"
    )
    runs = 24 * DAYS_PER_MONTH
    assert scheduled.run_usd_hour == pytest.approx(20 * 0.44)
    assert scheduled.idle_usd_month == pytest.approx(runs * 20 * 0.44 * 2 / 60)


def test_scheduled_crawlers_bill_their_minimum_while_idle() -> None:
    crawler = _price(
        "AWS::Glue::Crawler",
        "glue_crawler",
        Schedule={"ScheduleExpression": "cron(0 6 * * ? *)"},
    )
    assert crawler.idle_usd_month == pytest.approx(DAYS_PER_MONTH * 0.44 * 10 / 60)


def test_redshift_serverless_base_capacity_while_queries_run() -> None:
    default = _price("AWS::RedshiftServerless::Workgroup", "redshift_serverless_workgroup")
    assert default.run_usd_hour == pytest.approx(128 * 0.375)
    small = _price(
        "AWS::RedshiftServerless::Workgroup", "redshift_serverless_workgroup", BaseCapacity=8
    )
    assert small.run_usd_hour == pytest.approx(3.0) and small.idle_usd_month == 0


def test_emr_instance_groups_and_unpriced_fleets() -> None:
    groups = _price(
        "AWS::EMR::Cluster",
        "emr_cluster",
        Instances={
            "MasterInstanceGroup": {"InstanceCount": 1, "InstanceType": "m5.xlarge"},
            "CoreInstanceGroup": {"InstanceCount": 3, "InstanceType": "m5.xlarge"},
        },
    )
    assert groups.run_usd_hour == pytest.approx(4 * (0.192 + 0.048))
    unpriced = _price(
        "AWS::EMR::Cluster",
        "emr_cluster",
        Instances={
            "CoreInstanceFleet": {
                "TargetOnDemandCapacity": 2,
                "InstanceTypeConfigs": [{"InstanceType": "x2iedn.32xlarge"}],
            }
        },
    )
    assert unpriced.unpriced and unpriced.run_usd_hour is None


def test_an_endpoint_without_its_configuration_in_the_template_is_unpriced() -> None:
    pricing = _price(
        "AWS::SageMaker::Endpoint",
        "sagemaker_endpoint",
        EndpointConfigName={"Fn::ImportValue": "elsewhere"},
    )
    assert pricing.unpriced and pricing.cost_class is CostClass.HOURLY


def test_a_serverless_endpoint_is_billed_by_usage() -> None:
    config = {
        "Config": {
            "Type": "AWS::SageMaker::EndpointConfig",
            "Properties": {"ProductionVariants": [{"ServerlessConfig": {"MaxConcurrency": 5}}]},
        }
    }
    pricing = _price(
        "AWS::SageMaker::Endpoint",
        "sagemaker_endpoint",
        config,
        EndpointConfigName={"Fn::GetAtt": ["Config", "EndpointConfigName"]},
    )
    assert pricing.cost_class is CostClass.USAGE and pricing.idle_usd_month == 0
