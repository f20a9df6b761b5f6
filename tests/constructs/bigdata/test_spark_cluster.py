"""SparkCluster: fleets, spot and on-demand split, scaling, termination, security, roles."""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_secretsmanager as secretsmanager

from ml_blueprints.constructs import PrivateNetwork, SecureDataLake
from ml_blueprints.constructs.bigdata.spark_cluster import (
    DEFAULT_CORE_TYPES,
    DEFAULT_PRIMARY_TYPES,
    DEFAULT_RELEASE,
    DEFAULT_TASK_TYPES,
    FleetType,
    SparkCluster,
    SparkStep,
)
from tests.conftest import Synthesized
from tests.constructs.scopes import fresh_scope


def _cluster(synth: Synthesized, stack_id: str) -> dict[str, Any]:
    [cluster] = synth.resources(stack_id, "AWS::EMR::Cluster").values()
    return cluster["Properties"]


def _security(synth: Synthesized, stack_id: str) -> dict[str, Any]:
    [config] = synth.resources(stack_id, "AWS::EMR::SecurityConfiguration").values()
    return config["Properties"]["SecurityConfiguration"]


@pytest.fixture(scope="module")
def cluster(sandbox_project: Synthesized) -> dict[str, Any]:
    return _cluster(sandbox_project, "Emr")


def test_emr_7_with_spark_hive_livy_and_jupyter_on_the_glue_catalog(
    cluster: dict[str, Any],
) -> None:
    assert cluster["ReleaseLabel"] == DEFAULT_RELEASE
    assert [a["Name"] for a in cluster["Applications"]] == [
        "Spark",
        "Hive",
        "Livy",
        "JupyterEnterpriseGateway",
    ]
    classifications = {c["Classification"]: c for c in cluster["Configurations"]}
    for name in ("hive-site", "spark-hive-site"):
        assert "AWSGlueDataCatalogHiveClientFactory" in json.dumps(classifications[name])


def test_primary_and_core_are_on_demand_and_tasks_are_spot(cluster: dict[str, Any]) -> None:
    instances = cluster["Instances"]
    primary, core = instances["MasterInstanceFleet"], instances["CoreInstanceFleet"]
    assert (primary["TargetOnDemandCapacity"], primary["TargetSpotCapacity"]) == (1, 0)
    assert (core["TargetOnDemandCapacity"], core["TargetSpotCapacity"]) == (2, 0)
    assert "LaunchSpecifications" not in core
    [task] = instances["TaskInstanceFleets"]
    assert (task["TargetOnDemandCapacity"], task["TargetSpotCapacity"]) == (0, 2)
    spot = task["LaunchSpecifications"]["SpotSpecification"]
    assert spot == {
        "AllocationStrategy": "price-capacity-optimized",
        "TimeoutAction": "SWITCH_TO_ON_DEMAND",
        "TimeoutDurationMinutes": 10,
    }
    types = {t["InstanceType"]: t["WeightedCapacity"] for t in task["InstanceTypeConfigs"]}
    assert len(types) >= 3
    assert types["m7i.4xlarge"] == 2 and types["m7i.2xlarge"] == 1
    for fleet in (primary, core, task):
        for config in fleet["InstanceTypeConfigs"]:
            assert "." in config["InstanceType"]
    volumes = core["InstanceTypeConfigs"][0]["EbsConfiguration"]["EbsBlockDeviceConfigs"]
    assert volumes[0]["VolumeSpecification"] == {"SizeInGB": 256, "VolumeType": "gp3"}


def test_scaling_grows_on_spot_and_idle_clusters_terminate(cluster: dict[str, Any]) -> None:
    limits = cluster["ManagedScalingPolicy"]["ComputeLimits"]
    assert limits == {
        "UnitType": "InstanceFleetUnits",
        "MinimumCapacityUnits": 2,
        "MaximumCapacityUnits": 20,
        "MaximumOnDemandCapacityUnits": 2,
        "MaximumCoreCapacityUnits": 2,
    }
    assert cluster["AutoTerminationPolicy"] == {"IdleTimeout": 3600}
    assert cluster["Instances"]["KeepJobFlowAliveWhenNoSteps"] is True


def test_security_configuration_encrypts_s3_disks_and_ebs_with_the_lake_key(
    sandbox_project: Synthesized,
) -> None:
    config = _security(sandbox_project, "Emr")
    encryption = config["EncryptionConfiguration"]
    assert encryption["EnableAtRestEncryption"] is True
    assert encryption["EnableInTransitEncryption"] is False  # no certificates given
    at_rest = encryption["AtRestEncryptionConfiguration"]
    assert at_rest["S3EncryptionConfiguration"]["EncryptionMode"] == "SSE-KMS"
    disk = at_rest["LocalDiskEncryptionConfiguration"]
    assert (disk["EncryptionKeyProviderType"], disk["EnableEbsEncryption"]) == ("AwsKms", True)
    assert "LakeKey" in json.dumps(disk["AwsKmsKey"])
    assert "AuthenticationConfiguration" not in config


def test_tls_and_kerberos_when_given(construct_variants: Synthesized) -> None:
    config = _security(construct_variants, "ClusterVariants")
    encryption = config["EncryptionConfiguration"]
    assert encryption["EnableInTransitEncryption"] is True
    assert encryption["InTransitEncryptionConfiguration"]["TLSCertificateConfiguration"] == {
        "CertificateProviderType": "PEM",
        "S3Object": "s3://acme-certs/emr/certs.zip",
    }
    assert config["AuthenticationConfiguration"]["KerberosConfiguration"]["Provider"] == (
        "ClusterDedicatedKdc"
    )
    cluster = _cluster(construct_variants, "ClusterVariants")
    attributes = cluster["KerberosAttributes"]
    assert attributes["Realm"] == "EC2.INTERNAL"
    assert "{{resolve:secretsmanager:" in json.dumps(attributes["KdcAdminPassword"])
    assert "AutoTerminationPolicy" not in cluster


def test_gpu_fleet_and_opted_in_spot_core(construct_variants: Synthesized) -> None:
    instances = _cluster(construct_variants, "ClusterVariants")["Instances"]
    core = instances["CoreInstanceFleet"]
    assert (core["TargetOnDemandCapacity"], core["TargetSpotCapacity"]) == (2, 2)
    assert core["LaunchSpecifications"]["SpotSpecification"]["AllocationStrategy"] == (
        "price-capacity-optimized"
    )
    _task, gpu = instances["TaskInstanceFleets"]
    assert gpu["Name"] == "GpuTask" and gpu["TargetSpotCapacity"] == 2
    assert {t["InstanceType"] for t in gpu["InstanceTypeConfigs"]} == {
        "g5.2xlarge",
        "g4dn.2xlarge",
        "g5.4xlarge",
    }


def test_logs_go_to_the_lake_encrypted(cluster: dict[str, Any]) -> None:
    assert json.dumps(cluster["LogUri"]).endswith('"/emr/"]]}')
    assert "LakeAccessLogsBucket" in json.dumps(cluster["LogUri"])
    assert "LakeKey" in json.dumps(cluster["LogEncryptionKmsKeyId"])


def _policy(synth: Synthesized, stack_id: str, role: Any) -> list[dict[str, Any]]:
    stack = synth.stack(stack_id)
    policy_id = stack.get_logical_id(role.grants_policy.node.default_child)
    return synth.template_json(stack_id)["Resources"][policy_id]["Properties"]["PolicyDocument"][
        "Statement"
    ]


def test_service_role_uses_the_v2_policy_and_passes_only_the_instance_role(
    sandbox_project: Synthesized,
) -> None:
    spark: SparkCluster = sandbox_project.stack("Emr").cluster
    stack = sandbox_project.stack("Emr")
    role = sandbox_project.template_json("Emr")["Resources"][
        stack.get_logical_id(spark.service_role.node.default_child)
    ]["Properties"]
    assert any("AmazonEMRServicePolicy_v2" in json.dumps(p) for p in role["ManagedPolicyArns"])
    [trust] = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "elasticmapreduce.amazonaws.com"}
    assert "aws:SourceAccount" in trust["Condition"]["StringEquals"]
    [passing] = _policy(sandbox_project, "Emr", spark.service_role)
    instance_role_id = stack.get_logical_id(spark.instance_role.node.default_child)
    assert passing["Action"] == "iam:PassRole"
    assert passing["Resource"] == {"Fn::GetAtt": [instance_role_id, "Arn"]}


def test_instance_role_reaches_only_its_zones_and_logs(sandbox_project: Synthesized) -> None:
    spark: SparkCluster = sandbox_project.stack("Emr").cluster
    statements = {s["Sid"]: s for s in _policy(sandbox_project, "Emr", spark.instance_role)}
    assert set(statements) >= {"ZoneRaw", "ZoneCurated", "ZoneAnalytics", "WriteClusterLogs"}
    assert statements["ZoneRaw"]["Action"] == "s3:GetObject"
    assert "s3:PutObject" in statements["ZoneCurated"]["Action"]
    everything = json.dumps(list(statements.values()))
    assert '"s3:*"' not in everything and '"Resource": "*"' not in everything


def test_everything_emr_launches_into_carries_the_v2_policy_tag(
    sandbox_project: Synthesized, cluster: dict[str, Any]
) -> None:
    tag = {"Key": "for-use-with-amazon-emr-managed-policies", "Value": "true"}
    assert tag in cluster["Tags"]
    groups = sandbox_project.resources("Emr", "AWS::EC2::SecurityGroup")
    emr_groups = [g for k, g in groups.items() if "Spark" in k]
    assert len(emr_groups) == 3
    assert all(tag in g["Properties"]["Tags"] for g in emr_groups)
    subnets = sandbox_project.resources("DataLake", "AWS::EC2::Subnet").values()
    assert all(tag in s["Properties"]["Tags"] for s in subnets)


def test_the_example_step_runs_the_etl_script(sandbox_project: Synthesized) -> None:
    [step] = sandbox_project.resources("Emr", "AWS::EMR::Step").values()
    props = step["Properties"]
    assert props["ActionOnFailure"] == "CONTINUE"
    args = props["HadoopJarStep"]["Args"]
    assert props["HadoopJarStep"]["Jar"] == "command-runner.jar"
    assert args[:4] == ["spark-submit", "--deploy-mode", "cluster", "--py-files"]
    assert "--input-path" in args and "--output-path" in args and "--quarantine-path" in args
    # the script's modules: one zip on the step's Python path, readable by the instances
    stack = sandbox_project.stack("Emr")
    modules = next(c for c in stack.node.children if c.node.id == "EtlModules")
    assert args[4] == stack.resolve(modules.s3_object_url)
    spark: SparkCluster = stack.cluster
    statements = {s["Sid"]: s for s in _policy(sandbox_project, "Emr", spark.instance_role)}
    read = statements["ReadTheEtlModules"]
    assert read["Action"] == "s3:GetObject"
    assert read["Resource"]["Fn::Join"][1][-1] == "/" + stack.resolve(modules.s3_object_key)


def test_the_network_gets_the_endpoints_emr_needs(sandbox_project: Synthesized) -> None:
    endpoints = sandbox_project.resources("DataLake", "AWS::EC2::VPCEndpoint").values()
    services = json.dumps([e["Properties"]["ServiceName"] for e in endpoints])
    for service in ("elasticmapreduce", "kms", "sts", "glue"):
        assert f'".{service}"' in services, service
    outputs = sandbox_project.template_json("Emr")["Outputs"]
    assert set(outputs) == {"ClusterId", "LogUri"}


def test_emr_is_opt_in(project: Synthesized) -> None:
    assert "Emr" not in [c.node.id for c in project.app.node.children]


@pytest.fixture(scope="module")
def parts() -> tuple[SecureDataLake, PrivateNetwork]:
    """Shared by the validation tests below (see tests/constructs/scopes.py)."""
    stack = cdk.Stack(cdk.App(), "Validation")
    network = PrivateNetwork(stack, "Network")
    return SecureDataLake(stack, "Lake", vpc_endpoint=network.s3_endpoint), network


TWO_TYPES = [FleetType("m7i.2xlarge"), FleetType("m6i.2xlarge")]


@pytest.mark.parametrize(
    ("props", "expected"),
    [
        ({"core_spot_capacity": 1}, "core_spot_capacity=1: 0 unless allow_spot_core=True"),
        ({"task_types": TWO_TYPES}, "task_types=['m7i.2xlarge', 'm6i.2xlarge']: at least 3"),
        ({"max_on_demand_units": 20}, "max_on_demand_units=20: below max_capacity_units (20)"),
        ({"max_on_demand_units": 1}, "max_on_demand_units=1: at least core_capacity (2)"),
        ({"idle_timeout_seconds": 59}, "idle_timeout_seconds=59: 60 to 604800 seconds"),
        ({"idle_timeout_seconds": 604_801}, "idle_timeout_seconds=604801"),
        ({"core_capacity": 0}, "core_capacity=0: a whole number of units, at least 1"),
        ({"task_spot_capacity": -1}, "task_spot_capacity=-1"),
        ({"max_capacity_units": 0}, "max_capacity_units=0"),
        ({"applications": ["Spark", "Impala"]}, "applications='Impala': EMR 7 applications"),
        ({"release_label": "emr-6.15.0"}, "release_label='emr-6.15.0': an EMR 7 release label"),
        (
            {"task_types": [FleetType("m7i.2xl"), *TWO_TYPES]},
            "task_types='m7i.2xl': an EC2 instance type that exists; m7i comes in: large,",
        ),
        (
            {
                "task_types": [
                    FleetType("m7i.2xlarge", 0),
                    FleetType("c7i.2xlarge"),
                    FleetType("r7i.2xlarge"),
                ]
            },
            "task_types['m7i.2xlarge'].weighted_capacity=0",
        ),
        ({"gpu_task_types": [FleetType("m7i.2xlarge")]}, "gpu_task_types='m7i.2xlarge': GPU"),
        (
            {
                "gpu_task_types": [FleetType("g5.2xlarge")],
                "primary_types": [FleetType("m7g.xlarge")],
            },
            "these are Graviton: ['m7g.xlarge']",
        ),
        ({"kerberos_realm": "EC2.INTERNAL"}, "both or neither"),
        ({"readable_zones": ["gold"]}, "readable_zones='gold'"),
        ({"tls_certificates_s3_uri": "https://x/certs.zip"}, "tls_certificates_s3_uri="),
        ({"spot_timeout_minutes": 2}, "spot_timeout_minutes=2: 5 to 1440"),
        ({"release_label": "emr-7.99.0"}, "release_label='emr-7.99.0': an EMR 7 release label"),
        ({"release_label": "emr-7.13.1"}, "emr-7.0.0, emr-7.1.0,"),
        ({"applications": ["Spark", "Ganglia"]}, "applications='Ganglia': EMR 7 applications"),
        (
            {"applications": ["Spark", "Sqoop"]},
            "applications='Sqoop': an application of emr-7.13.0: Sqoop was removed after emr-7.4.0",
        ),
        (
            {"primary_types": [FleetType("m7i.3xlarge")]},
            "primary_types='m7i.3xlarge': an EC2 instance type that exists; m7i comes in: "
            "large, xlarge, 2xlarge, 4xlarge, 8xlarge, 12xlarge, 16xlarge, 24xlarge, 48xlarge",
        ),
        (
            {"core_types": [FleetType("m99x.2xlarge")]},
            "core_types='m99x.2xlarge': an EC2 instance type that exists, such as 'm7i.2xlarge' "
            "(botocore 1.44.8's list",
        ),
        (
            {"primary_types": [FleetType("t3.xlarge")]},
            "primary_types='t3.xlarge': an instance type EMR runs on; t3 (burstable",
        ),
    ],
)
def test_invalid_props_are_refused_with_a_clear_error(
    parts: tuple[SecureDataLake, PrivateNetwork], props: dict[str, Any], expected: str
) -> None:
    lake, network = parts
    with pytest.raises(ValueError, match=r"^SparkCluster: invalid prop") as error:
        SparkCluster(fresh_scope(lake), "Spark", lake=lake, network=network, **props)
    assert expected in str(error.value)


def test_kerberos_realm_must_be_upper_case(parts: tuple[SecureDataLake, PrivateNetwork]) -> None:
    lake, network = parts
    secret = secretsmanager.Secret.from_secret_name_v2(fresh_scope(lake), "S", "kdc")
    with pytest.raises(ValueError, match=r"kerberos_realm=.ec2\.internal.: an upper-case realm"):
        SparkCluster(
            fresh_scope(lake),
            "Spark",
            lake=lake,
            network=network,
            kerberos_realm="ec2.internal",
            kdc_admin_password=secret,
        )


def test_a_step_with_a_bad_failure_action_is_refused(
    parts: tuple[SecureDataLake, PrivateNetwork],
) -> None:
    lake, network = parts
    spark = SparkCluster(fresh_scope(lake), "Spark", lake=lake, network=network)
    with pytest.raises(ValueError, match="action_on_failure='RETRY'"):
        spark.add_spark_step(SparkStep("x", "s3://b/job.py", action_on_failure="RETRY"))


def test_an_older_release_with_sqoop_is_accepted(
    parts: tuple[SecureDataLake, PrivateNetwork],
) -> None:
    lake, network = parts
    spark = SparkCluster(
        fresh_scope(lake),
        "Spark",
        lake=lake,
        network=network,
        release_label="emr-7.4.0",
        applications=["Spark", "Sqoop"],
    )
    assert spark.cluster.release_label == "emr-7.4.0"


def test_the_ec2_instance_types_are_botocores() -> None:
    import botocore
    import botocore.loaders

    from ml_blueprints.constructs.bigdata import ec2_instance_types as table

    model = botocore.loaders.create_loader().load_service_model("ec2", "service-2")
    installed = set(model["shapes"]["InstanceType"]["enum"])
    if botocore.__version__ == table.BOTOCORE_VERSION:
        assert installed == table.EC2_INSTANCE_TYPES
    else:  # a newer botocore only adds types
        assert installed >= table.EC2_INSTANCE_TYPES
    every_default = [
        t.instance_type
        for fleet in (DEFAULT_PRIMARY_TYPES, DEFAULT_CORE_TYPES, DEFAULT_TASK_TYPES)
        for t in fleet
    ]
    assert set(every_default) <= table.EC2_INSTANCE_TYPES
