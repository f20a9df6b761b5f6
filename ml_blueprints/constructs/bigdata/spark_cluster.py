"""SparkCluster: an EMR cluster on instance fleets, in the private network, over the lake.

The course notes' EMR section: a managed Hadoop/Spark cluster in the VPC whose primary and
core nodes hold HDFS (so they run on-demand) and whose task nodes come and go (so they run on
spot, diversified over several instance types), EMRFS on the data lake, encrypted at rest and
in transit, Kerberos available, logs on S3, terminated when idle.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_emr as emr
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from ml_blueprints.compliance import acknowledge, acknowledge_rule, acknowledge_wildcard_resources
from ml_blueprints.constructs.bigdata.ec2_instance_types import (
    BOTOCORE_VERSION as EC2_TYPES_BOTOCORE_VERSION,
)
from ml_blueprints.constructs.bigdata.ec2_instance_types import (
    EC2_INSTANCE_TYPES,
    SIZES_BY_FAMILY,
)
from ml_blueprints.constructs.shared.managed_policy_role import ManagedPolicyRole
from ml_blueprints.constructs.storage.private_network import PrivateNetwork
from ml_blueprints.constructs.storage.secure_data_lake import SecureDataLake
from ml_blueprints.validation import PropErrors, TypedProps, typed_props

#: The EMR 7 releases (Amazon EMR Release Guide, "Application versions in Amazon EMR 7.x
#: releases": emr-7.0.0 to emr-7.14.0, September 2026). A label outside the list does not
#: exist, and CloudFormation would fail the cluster after a long wait.
EMR7_RELEASES: tuple[str, ...] = tuple(f"emr-7.{minor}.0" for minor in range(15))
DEFAULT_RELEASE = "emr-7.13.0"
DEFAULT_APPLICATIONS: tuple[str, ...] = ("Spark", "Hive", "Livy", "JupyterEnterpriseGateway")
#: Applications every EMR 7 release installs by name (Ganglia is gone since EMR 7.0).
EMR7_APPLICATIONS = frozenset(
    {
        "AmazonCloudWatchAgent",
        "Flink",
        "HBase",
        "HCatalog",
        "Hadoop",
        "Hive",
        "Hudi",
        "Hue",
        "JupyterEnterpriseGateway",
        "JupyterHub",
        "Livy",
        "Oozie",
        "Phoenix",
        "Pig",
        "Presto",
        "Spark",
        "Tez",
        "Trino",
        "Zeppelin",
        "ZooKeeper",
    }
)
#: Applications only some EMR 7 releases have: name -> the last release with it.
EMR7_RETIRED_APPLICATIONS = {"Sqoop": "emr-7.4.0"}
#: Instance families EMR does not run on although EC2 has them: burstable, Mac, high memory.
_NOT_FOR_EMR = re.compile(r"^(t\d+[a-z]*|mac.*|u-.*|u7.*)$")
#: The tag the EMR v2 managed service policy requires on everything EMR launches into.
EMR_MANAGED_TAG = ("for-use-with-amazon-emr-managed-policies", "true")
IDLE_TIMEOUT_SECONDS = (60, 7 * 24 * 3600)
SPOT_ALLOCATION = "price-capacity-optimized"
MIN_TASK_TYPES = 3

_INSTANCE_TYPE = re.compile(
    r"^(?P<family>[a-z]+\d+[a-z]*(-[a-z0-9]+)?)\."
    r"(nano|micro|small|medium|large|xlarge|[1-9]\d*xlarge|metal(-\d+xl)?)$"
)
_GRAVITON = re.compile(r"^[a-z]+\d+g[a-z]*$")
_GPU_FAMILIES = re.compile(r"^(g4dn|g5|g6|g6e|p3|p4d|p5)$")


@dataclass(frozen=True)
class FleetType(TypedProps):
    """An instance type in a fleet and the capacity units it counts for."""

    instance_type: str
    weighted_capacity: int = 1


def _fleet(*specs: tuple[str, int]) -> tuple[FleetType, ...]:
    return tuple(FleetType(t, w) for t, w in specs)


#: Primary: runs YARN's ResourceManager, the HDFS NameNode, Livy and Jupyter Enterprise
#: Gateway. 4 vCPU / 16 GiB is plenty below ~50 nodes (the course notes' m4.large/xlarge
#: rule, in today's generations); two types so a capacity shortage of one does not block.
DEFAULT_PRIMARY_TYPES = _fleet(("m7i.xlarge", 1), ("m6i.xlarge", 1))
#: Core: HDFS and YARN containers: 8 vCPU / 32 GiB general purpose.
DEFAULT_CORE_TYPES = _fleet(("m7i.2xlarge", 1), ("m6i.2xlarge", 1), ("m5.2xlarge", 1))
#: Task (spot): five types across families and sizes, weighted by size, so the
#: price-capacity-optimized strategy has deep pools to choose from.
DEFAULT_TASK_TYPES = _fleet(
    ("m7i.2xlarge", 1),
    ("m6i.2xlarge", 1),
    ("r7i.2xlarge", 1),
    ("m7i.4xlarge", 2),
    ("c7i.4xlarge", 2),
)
#: Optional GPU task fleet (the notes: "EMR supports GPU"): NVIDIA A10G and T4.
DEFAULT_GPU_TYPES = _fleet(("g5.2xlarge", 1), ("g4dn.2xlarge", 1), ("g5.4xlarge", 2))


@dataclass(frozen=True)
class SparkStep(TypedProps):
    """A ``spark-submit`` step: ``script`` is an ``s3://`` URI or a local file (uploaded as
    an asset), run with ``arguments``. ``action_on_failure`` CONTINUE, CANCEL_AND_WAIT or
    TERMINATE_CLUSTER."""

    name: str
    script: str
    arguments: Sequence[str] = field(default_factory=tuple)
    action_on_failure: str = "CONTINUE"
    spark_submit_options: Sequence[str] = ("--deploy-mode", "cluster")


class SparkCluster(Construct):
    """An EMR 7 cluster with an on-demand primary and core fleet and spot task fleets.

    Defaults:

    - ``release_label`` :data:`DEFAULT_RELEASE` (one of :data:`EMR7_RELEASES`);
      ``applications`` Spark, Hive, Livy and JupyterEnterpriseGateway; the Glue Data Catalog
      as the Hive/Spark metastore. Instance types must exist in EC2 (botocore's list, see
      :mod:`~ml_blueprints.constructs.bigdata.ec2_instance_types`) and not be burstable.
    - Placed in ``network``'s private subnets (EMR picks the AZ with capacity).
    - Primary fleet: one on-demand node of :data:`DEFAULT_PRIMARY_TYPES`.
    - Core fleet: ``core_capacity`` (2) on-demand units of :data:`DEFAULT_CORE_TYPES`, 256 GiB
      gp3 each. Spot for core needs ``allow_spot_core=True``: losing a core node loses HDFS
      blocks.
    - Task fleet: ``task_spot_capacity`` (2) spot units of :data:`DEFAULT_TASK_TYPES` (at
      least 3 types), allocation ``price-capacity-optimized``, switching to on-demand after
      ``spot_timeout_minutes`` (10) without spot capacity. ``gpu_task_types`` adds a second,
      GPU task fleet (x86 only, so it cannot join a Graviton cluster).
    - Managed scaling in fleet units from ``core_capacity`` up to ``max_capacity_units``
      (20) with at most ``max_on_demand_units`` (``core_capacity``) on-demand, so growth
      goes to spot; core never scales beyond ``core_capacity``.
    - Auto-termination after ``idle_timeout_seconds`` (3600) idle.
    - Security configuration: EMRFS SSE-KMS and local disk and EBS encryption with the lake
      key; in-transit TLS when ``tls_certificates_s3_uri`` (a zip of PEM files) is given;
      Kerberos with a cluster-dedicated KDC when ``kerberos_realm`` and
      ``kdc_admin_password`` are given.
    - Logs to the lake's access-logs bucket under ``emr/``, encrypted with the lake key.
    - Service role on AWS's ``AmazonEMRServicePolicy_v2`` (everything EMR launches into
      carries the tag it requires); an instance profile that may read ``readable_zones``
      (raw, curated) and write ``writable_zones`` (curated, analytics), nothing else.

    Attributes: ``cluster``, ``cluster_id``, ``service_role``, ``instance_role``,
    ``security_configuration``, ``log_uri``, ``steps``.
    """

    @typed_props
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        lake: SecureDataLake,
        network: PrivateNetwork,
        release_label: str = DEFAULT_RELEASE,
        applications: Sequence[str] = DEFAULT_APPLICATIONS,
        primary_types: Sequence[FleetType] = DEFAULT_PRIMARY_TYPES,
        core_types: Sequence[FleetType] = DEFAULT_CORE_TYPES,
        core_capacity: int = 2,
        core_spot_capacity: int = 0,
        allow_spot_core: bool = False,
        task_types: Sequence[FleetType] = DEFAULT_TASK_TYPES,
        task_spot_capacity: int = 2,
        task_on_demand_capacity: int = 0,
        gpu_task_types: Sequence[FleetType] = (),
        gpu_spot_capacity: int = 1,
        spot_timeout_minutes: int = 10,
        max_capacity_units: int = 20,
        max_on_demand_units: int | None = None,
        idle_timeout_seconds: int | None = 3600,
        readable_zones: Sequence[str] = ("raw", "curated"),
        writable_zones: Sequence[str] = ("curated", "analytics"),
        tls_certificates_s3_uri: str | None = None,
        kerberos_realm: str | None = None,
        kdc_admin_password: secretsmanager.ISecret | None = None,
        glue_database_name: str | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(scope, id)
        on_demand_cap = max_on_demand_units if max_on_demand_units is not None else core_capacity
        _validate(
            lake=lake,
            release_label=release_label,
            applications=applications,
            primary_types=primary_types,
            core_types=core_types,
            core_capacity=core_capacity,
            core_spot_capacity=core_spot_capacity,
            allow_spot_core=allow_spot_core,
            task_types=task_types,
            task_spot_capacity=task_spot_capacity,
            task_on_demand_capacity=task_on_demand_capacity,
            gpu_task_types=gpu_task_types,
            gpu_spot_capacity=gpu_spot_capacity,
            spot_timeout_minutes=spot_timeout_minutes,
            max_capacity_units=max_capacity_units,
            max_on_demand_units=on_demand_cap,
            idle_timeout_seconds=idle_timeout_seconds,
            readable_zones=readable_zones,
            writable_zones=writable_zones,
            tls_certificates_s3_uri=tls_certificates_s3_uri,
            kerberos_realm=kerberos_realm,
            kdc_admin_password=kdc_admin_password,
        )
        self.lake = lake
        self.log_uri = f"s3://{lake.access_logs_bucket.bucket_name}/emr/"
        self.instance_role = self._instance_role(readable_zones, writable_zones, glue_database_name)
        instance_profile = iam.CfnInstanceProfile(
            self, "InstanceProfile", roles=[self.instance_role.role_name]
        )
        self.service_role = self._service_role()
        self.security_configuration = self._security_configuration(
            tls_certificates_s3_uri, kerberos_realm is not None
        )
        groups = self._security_groups(network)

        spot = emr.CfnCluster.InstanceFleetProvisioningSpecificationsProperty(
            spot_specification=emr.CfnCluster.SpotProvisioningSpecificationProperty(
                allocation_strategy=SPOT_ALLOCATION,
                timeout_action="SWITCH_TO_ON_DEMAND",
                timeout_duration_minutes=spot_timeout_minutes,
            ),
            on_demand_specification=emr.CfnCluster.OnDemandProvisioningSpecificationProperty(
                allocation_strategy="lowest-price"
            ),
        )
        task_fleets = [
            _fleet_config("Task", task_types, task_on_demand_capacity, task_spot_capacity, spot)
        ]
        if gpu_task_types:
            task_fleets.append(_fleet_config("GpuTask", gpu_task_types, 0, gpu_spot_capacity, spot))
        subnets = network.vpc.select_subnets(subnet_group_name="Private").subnet_ids
        configurations = [
            emr.CfnCluster.ConfigurationProperty(
                classification=classification,
                configuration_properties={
                    "hive.metastore.client.factory.class": "com.amazonaws.glue.catalog."
                    "metastore.AWSGlueDataCatalogHiveClientFactory"
                },
            )
            for classification in ("hive-site", "spark-hive-site")
        ]
        configurations.append(
            emr.CfnCluster.ConfigurationProperty(
                classification="spark-defaults",
                configuration_properties={"spark.dynamicAllocation.enabled": "true"},
            )
        )
        self.cluster = emr.CfnCluster(
            self,
            "Cluster",
            name=name or f"{cdk.Names.unique_id(self)[-40:]}",
            release_label=release_label,
            applications=[emr.CfnCluster.ApplicationProperty(name=a) for a in applications],
            service_role=self.service_role.role_arn,
            job_flow_role=instance_profile.ref,
            security_configuration=self.security_configuration.ref,
            log_uri=self.log_uri,
            log_encryption_kms_key_id=lake.key.key_arn,
            visible_to_all_users=True,
            step_concurrency_level=1,
            scale_down_behavior="TERMINATE_AT_TASK_COMPLETION",
            configurations=configurations,
            auto_termination_policy=emr.CfnCluster.AutoTerminationPolicyProperty(
                idle_timeout=idle_timeout_seconds
            )
            if idle_timeout_seconds is not None
            else None,
            managed_scaling_policy=emr.CfnCluster.ManagedScalingPolicyProperty(
                compute_limits=emr.CfnCluster.ComputeLimitsProperty(
                    unit_type="InstanceFleetUnits",
                    minimum_capacity_units=core_capacity + core_spot_capacity,
                    maximum_capacity_units=max_capacity_units,
                    maximum_on_demand_capacity_units=on_demand_cap,
                    maximum_core_capacity_units=core_capacity + core_spot_capacity,
                )
            ),
            kerberos_attributes=emr.CfnCluster.KerberosAttributesProperty(
                realm=kerberos_realm,
                kdc_admin_password=kdc_admin_password.secret_value.unsafe_unwrap(),  # type: ignore[union-attr]
            )
            if kerberos_realm is not None
            else None,
            instances=emr.CfnCluster.JobFlowInstancesConfigProperty(
                ec2_subnet_ids=subnets,
                emr_managed_master_security_group=groups["primary"].security_group_id,
                emr_managed_slave_security_group=groups["workers"].security_group_id,
                service_access_security_group=groups["service"].security_group_id,
                keep_job_flow_alive_when_no_steps=True,
                termination_protected=False,
                master_instance_fleet=_cluster_fleet("Primary", primary_types, 1, 0, None),
                core_instance_fleet=_cluster_fleet(
                    "Core",
                    core_types,
                    core_capacity,
                    core_spot_capacity,
                    spot if core_spot_capacity else None,
                    ebs_gib=256,
                ),
                task_instance_fleets=task_fleets,
            ),
            tags=[cdk.CfnTag(key=EMR_MANAGED_TAG[0], value=EMR_MANAGED_TAG[1])],
        )
        self.cluster.node.add_dependency(self.instance_role.grants_policy)  # type: ignore[arg-type]
        self.cluster.node.add_dependency(self.service_role.grants_policy)  # type: ignore[arg-type]
        self.cluster_id = self.cluster.ref
        self.steps: list[emr.CfnStep] = []
        self._acknowledge(tls_certificates_s3_uri is not None, kerberos_realm is not None)

    # ------------------------------------------------------------------------------- steps

    @typed_props
    def add_spark_step(self, step: SparkStep) -> emr.CfnStep:
        """Run ``step`` on the cluster with ``spark-submit`` (after earlier steps)."""
        errors = PropErrors("SparkCluster.add_spark_step")
        errors.require(
            step.action_on_failure in ("CONTINUE", "CANCEL_AND_WAIT", "TERMINATE_CLUSTER"),
            "action_on_failure",
            step.action_on_failure,
            "CONTINUE, CANCEL_AND_WAIT or TERMINATE_CLUSTER",
        )
        errors.require(1 <= len(step.name) <= 256, "name", step.name, "1 to 256 characters")
        is_s3 = step.script.startswith("s3://")
        errors.require(
            is_s3 or step.script.endswith(".py"),
            "script",
            step.script,
            "an s3:// URI or a local .py file",
        )
        errors.raise_if_any()
        script = step.script
        if not is_s3:
            asset = s3_assets.Asset(self, f"StepScript{len(self.steps)}", path=step.script)
            script = asset.s3_object_url
            self.instance_role.add_to_principal_policy(
                iam.PolicyStatement(
                    sid=f"ReadStepScript{len(self.steps)}",
                    actions=["s3:GetObject"],
                    resources=[
                        f"arn:{cdk.Aws.PARTITION}:s3:::{asset.s3_bucket_name}/{asset.s3_object_key}"
                    ],
                )
            )
        cfn_step = emr.CfnStep(
            self,
            f"Step{len(self.steps)}",
            job_flow_id=self.cluster.ref,
            name=step.name,
            action_on_failure=step.action_on_failure,
            hadoop_jar_step=emr.CfnStep.HadoopJarStepConfigProperty(
                jar="command-runner.jar",
                args=["spark-submit", *step.spark_submit_options, script, *step.arguments],
            ),
        )
        if self.steps:
            cfn_step.add_resource_dependency(self.steps[-1])
        self.steps.append(cfn_step)
        return cfn_step

    # ---------------------------------------------------------------------------- builders

    def _instance_role(
        self, readable: Sequence[str], writable: Sequence[str], database: str | None
    ) -> ManagedPolicyRole:
        stack = cdk.Stack.of(self)
        role = ManagedPolicyRole(
            self,
            "InstanceRole",
            assumed_by=iam.ServicePrincipal("ec2.amazonaws.com"),
            description="EMR cluster nodes: their lake zones, their logs, the lake key",
        )
        logs = self.lake.access_logs_bucket
        wildcards: list[str] = [logs.arn_for_objects("emr/*")]
        statements = [
            iam.PolicyStatement(
                sid="WriteClusterLogs",
                actions=["s3:PutObject"],
                resources=[logs.arn_for_objects("emr/*")],
            ),
            iam.PolicyStatement(
                sid="UseTheLakeKey",
                actions=["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"],
                resources=[self.lake.key.key_arn],
            ),
        ]
        buckets = sorted({self.lake.bucket(z).bucket_arn for z in (*readable, *writable)}, key=str)
        statements.append(
            iam.PolicyStatement(
                sid="ListTheZones",
                actions=["s3:ListBucket", "s3:GetBucketLocation"],
                resources=[*buckets, logs.bucket_arn],
            )
        )
        for zone in sorted(set(readable) | set(writable)):
            objects = self.lake.bucket(zone).arn_for_objects("*")
            actions = ["s3:GetObject"] if zone in readable else []
            if zone in writable:
                actions += [
                    "s3:GetObject",
                    "s3:PutObject",
                    "s3:DeleteObject",
                    "s3:AbortMultipartUpload",
                ]
            statements.append(
                iam.PolicyStatement(
                    sid=f"Zone{zone.capitalize()}",
                    actions=sorted(set(actions)),
                    resources=[objects],
                )
            )
            wildcards.append(objects)
        catalog = [
            stack.format_arn(service="glue", resource="catalog"),
            stack.format_arn(service="glue", resource="database", resource_name=database or "*"),
            stack.format_arn(
                service="glue", resource="table", resource_name=f"{database or '*'}/*"
            ),
        ]
        statements.append(
            iam.PolicyStatement(
                sid="UseTheGlueCatalog",
                actions=[
                    "glue:GetDatabase",
                    "glue:GetDatabases",
                    "glue:GetTable",
                    "glue:GetTables",
                    "glue:GetPartition",
                    "glue:GetPartitions",
                    "glue:BatchGetPartition",
                    "glue:CreateTable",
                    "glue:UpdateTable",
                    "glue:CreatePartition",
                    "glue:BatchCreatePartition",
                ],
                resources=catalog,
            )
        )
        wildcards.extend(catalog[1:] if database is None else catalog[2:])
        for statement in statements:
            role.add_to_principal_policy(statement)
        acknowledge_wildcard_resources(
            role.grants_policy,  # type: ignore[arg-type]
            wildcards,
            "Spark on EMR reads and writes objects and tables it names at run time: the "
            "wildcards are the objects of the cluster's own lake zones, its log prefix, and "
            "tables of the Glue catalog it uses as its metastore.",
        )
        return role

    def _service_role(self) -> ManagedPolicyRole:
        stack = cdk.Stack.of(self)
        role = ManagedPolicyRole(
            self,
            "ServiceRole",
            assumed_by=iam.ServicePrincipal("elasticmapreduce.amazonaws.com").with_conditions(
                {
                    "StringEquals": {"aws:SourceAccount": stack.account},
                    "ArnLike": {
                        "aws:SourceArn": stack.format_arn(
                            service="elasticmapreduce", resource="cluster", resource_name="*"
                        )
                    },
                }
            ),
            description="EMR service role (AmazonEMRServicePolicy_v2, tag-scoped)",
            managed_policies=[
                iam.ManagedPolicy.from_aws_managed_policy_name(
                    "service-role/AmazonEMRServicePolicy_v2"
                )
            ],
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="PassTheInstanceRole",
                actions=["iam:PassRole"],
                resources=[self.instance_role.role_arn],
                conditions={"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}},
            )
        )
        acknowledge(
            role,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
            "AmazonEMRServicePolicy_v2]",
            "AWS's v2 EMR service policy is what EMR documents for service roles; it only acts "
            "on resources tagged for-use-with-amazon-emr-managed-policies, which this "
            "construct puts on the cluster, its security groups and subnets.",
        )
        return role

    def _security_configuration(
        self, tls_uri: str | None, kerberos: bool
    ) -> emr.CfnSecurityConfiguration:
        key = self.lake.key.key_arn
        encryption: dict[str, object] = {
            "EnableAtRestEncryption": True,
            "EnableInTransitEncryption": tls_uri is not None,
            "AtRestEncryptionConfiguration": {
                "S3EncryptionConfiguration": {"EncryptionMode": "SSE-KMS", "AwsKmsKey": key},
                "LocalDiskEncryptionConfiguration": {
                    "EncryptionKeyProviderType": "AwsKms",
                    "AwsKmsKey": key,
                    "EnableEbsEncryption": True,
                },
            },
        }
        if tls_uri is not None:
            encryption["InTransitEncryptionConfiguration"] = {
                "TLSCertificateConfiguration": {
                    "CertificateProviderType": "PEM",
                    "S3Object": tls_uri,
                }
            }
        configuration: dict[str, object] = {"EncryptionConfiguration": encryption}
        if kerberos:
            configuration["AuthenticationConfiguration"] = {
                "KerberosConfiguration": {
                    "Provider": "ClusterDedicatedKdc",
                    "ClusterDedicatedKdcConfiguration": {"TicketLifetimeInHours": 24},
                }
            }
        return emr.CfnSecurityConfiguration(
            self, "SecurityConfiguration", security_configuration=configuration
        )

    def _security_groups(self, network: PrivateNetwork) -> dict[str, ec2.SecurityGroup]:
        descriptions = {
            "primary": "EMR primary node (rules managed by EMR)",
            "workers": "EMR core and task nodes (rules managed by EMR)",
            "service": "EMR service access in a private subnet (rules managed by EMR)",
        }
        groups = {
            name: ec2.SecurityGroup(
                self,
                f"{name.capitalize()}SecurityGroup",
                vpc=network.vpc,
                description=description,
                allow_all_outbound=True,
            )
            for name, description in descriptions.items()
        }
        for group in groups.values():
            cdk.Tags.of(group).add(*EMR_MANAGED_TAG)
        return groups

    def _acknowledge(self, tls: bool, kerberos: bool) -> None:
        rule_defect = (
            "cdk-nag 3.0.2's EMR rules read EnableAtRestEncryption and EnableInTransitEncryption "
            "at the top of the security configuration JSON, where EMR rejects them; here they "
            "are under EncryptionConfiguration, as EMR requires (this construct's tests assert "
            "it)."
        )
        acknowledge(
            self.cluster,
            "AwsSolutions-EMR4",
            f"Local disk and EBS encryption with the lake key are on. {rule_defect}",
        )
        if tls:
            acknowledge(
                self.cluster,
                "AwsSolutions-EMR5",
                f"In-transit TLS is on with the given certificates. {rule_defect}",
            )
        else:
            acknowledge(
                self.cluster,
                "AwsSolutions-EMR5",
                "In-transit TLS needs a certificate bundle only the deployer can supply "
                "(tls_certificates_s3_uri); without one the nodes talk only inside isolated "
                "private subnets with no route to the internet.",
            )
        if not kerberos:
            reason = (
                "Kerberos needs a realm and a KDC admin password secret from the deployer "
                "(kerberos_realm, kdc_admin_password); without them nobody can log in at "
                "all: no key pair, no SSH, no public address, isolated subnets."
            )
            acknowledge(self.cluster, "AwsSolutions-EMR6", reason)
            acknowledge_rule(self.cluster, "EMRKerberosEnabled", reason)


def _fleet_config(
    name: str,
    types: Sequence[FleetType],
    on_demand: int,
    spot_capacity: int,
    spot: emr.CfnCluster.InstanceFleetProvisioningSpecificationsProperty,
) -> emr.CfnCluster.InstanceFleetConfigProperty:
    return _cluster_fleet(name, types, on_demand, spot_capacity, spot, ebs_gib=128)


def _cluster_fleet(
    name: str,
    types: Sequence[FleetType],
    on_demand: int,
    spot_capacity: int,
    spot: emr.CfnCluster.InstanceFleetProvisioningSpecificationsProperty | None,
    ebs_gib: int | None = None,
) -> emr.CfnCluster.InstanceFleetConfigProperty:
    ebs = (
        emr.CfnCluster.EbsConfigurationProperty(
            ebs_block_device_configs=[
                emr.CfnCluster.EbsBlockDeviceConfigProperty(
                    volume_specification=emr.CfnCluster.VolumeSpecificationProperty(
                        size_in_gb=ebs_gib, volume_type="gp3"
                    ),
                    volumes_per_instance=1,
                )
            ],
            ebs_optimized=True,
        )
        if ebs_gib
        else None
    )
    return emr.CfnCluster.InstanceFleetConfigProperty(
        name=name,
        target_on_demand_capacity=on_demand,
        target_spot_capacity=spot_capacity,
        launch_specifications=spot,
        instance_type_configs=[
            emr.CfnCluster.InstanceTypeConfigProperty(
                instance_type=t.instance_type,
                weighted_capacity=t.weighted_capacity,
                ebs_configuration=ebs,
            )
            for t in types
        ],
    )


def _release_number(label: str) -> tuple[int, ...]:
    return tuple(int(part) for part in label.removeprefix("emr-").split("."))


def _instance_type_problem(instance_type: str) -> str | None:
    """Why EMR cannot launch ``instance_type``, or ``None``."""
    if instance_type in EC2_INSTANCE_TYPES:
        family = instance_type.split(".", 1)[0]
        if _NOT_FOR_EMR.match(family):
            return f"an instance type EMR runs on; {family} (burstable, Mac or high memory) is not"
        return None
    family = instance_type.split(".", 1)[0] if isinstance(instance_type, str) else ""
    sizes = SIZES_BY_FAMILY.get(family)
    if sizes:
        return f"an EC2 instance type that exists; {family} comes in: {sizes.replace(' ', ', ')}"
    return (
        "an EC2 instance type that exists, such as 'm7i.2xlarge' (botocore "
        f"{EC2_TYPES_BOTOCORE_VERSION}'s list of EC2 instance types)"
    )


def _family(instance_type: str) -> str:
    match = _INSTANCE_TYPE.match(instance_type)
    return match.group("family") if match else ""


def _validate(
    *,
    lake: SecureDataLake,
    release_label: str,
    applications: Sequence[str],
    primary_types: Sequence[FleetType],
    core_types: Sequence[FleetType],
    core_capacity: int,
    core_spot_capacity: int,
    allow_spot_core: bool,
    task_types: Sequence[FleetType],
    task_spot_capacity: int,
    task_on_demand_capacity: int,
    gpu_task_types: Sequence[FleetType],
    gpu_spot_capacity: int,
    spot_timeout_minutes: int,
    max_capacity_units: int,
    max_on_demand_units: int,
    idle_timeout_seconds: int | None,
    readable_zones: Sequence[str],
    writable_zones: Sequence[str],
    tls_certificates_s3_uri: str | None,
    kerberos_realm: str | None,
    kdc_admin_password: secretsmanager.ISecret | None,
) -> None:
    errors = PropErrors("SparkCluster")

    def whole(prop: str, value: object, low: int, allowed: str) -> bool:
        return errors.require(
            isinstance(value, int) and not isinstance(value, bool) and value >= low,
            prop,
            value,
            allowed,
        )

    release_ok = errors.require(
        release_label in EMR7_RELEASES,
        "release_label",
        release_label,
        f"an EMR 7 release label: {', '.join(EMR7_RELEASES)}",
    )
    for app in applications:
        last = EMR7_RETIRED_APPLICATIONS.get(app)
        if last is not None:
            errors.require(
                not release_ok or _release_number(release_label) <= _release_number(last),
                "applications",
                app,
                f"an application of {release_label}: {app} was removed after {last}",
            )
            continue
        errors.require(
            app in EMR7_APPLICATIONS,
            "applications",
            app,
            f"EMR 7 applications: {', '.join(sorted(EMR7_APPLICATIONS))}",
        )
    errors.require(len(applications) > 0, "applications", list(applications), "at least one")
    fleets = {
        "primary_types": primary_types,
        "core_types": core_types,
        "task_types": task_types,
        "gpu_task_types": gpu_task_types,
    }
    for prop, types in fleets.items():
        names = [t.instance_type for t in types if isinstance(t, FleetType)]
        errors.require(
            len(names) == len(set(names)), prop, names, "each instance type once per fleet"
        )
        errors.require(len(types) <= 30, prop, len(types), "at most 30 instance types per fleet")
        for spec in types:
            if not errors.require(isinstance(spec, FleetType), prop, spec, "FleetType(...)"):
                continue
            problem = _instance_type_problem(spec.instance_type)
            errors.require(problem is None, prop, spec.instance_type, problem or "")
            whole(
                f"{prop}[{spec.instance_type!r}].weighted_capacity",
                spec.weighted_capacity,
                1,
                "a whole number of units, at least 1",
            )
    errors.require(len(primary_types) >= 1, "primary_types", list(primary_types), "at least 1")
    errors.require(len(core_types) >= 1, "core_types", list(core_types), "at least 1")
    errors.require(
        len(task_types) >= MIN_TASK_TYPES,
        "task_types",
        [t.instance_type for t in task_types],
        f"at least {MIN_TASK_TYPES} instance types, so spot capacity can come from several pools",
    )
    if gpu_task_types:
        for spec in gpu_task_types:
            errors.require(
                bool(_GPU_FAMILIES.match(_family(spec.instance_type))),
                "gpu_task_types",
                spec.instance_type,
                "GPU instance types (g4dn, g5, g6, g6e, p3, p4d, p5)",
            )
        graviton = sorted(
            t.instance_type
            for t in (*primary_types, *core_types, *task_types)
            if _GRAVITON.match(_family(t.instance_type))
        )
        errors.require(
            not graviton,
            "gpu_task_types",
            [t.instance_type for t in gpu_task_types],
            f"x86 instances only in the rest of the cluster; these are Graviton: {graviton}",
        )
        whole("gpu_spot_capacity", gpu_spot_capacity, 1, "a whole number of units, at least 1")
    whole("core_capacity", core_capacity, 1, "a whole number of units, at least 1 (HDFS)")
    whole("core_spot_capacity", core_spot_capacity, 0, "a whole number of units, 0 or more")
    if isinstance(core_spot_capacity, int) and core_spot_capacity > 0:
        errors.require(
            allow_spot_core is True,
            "core_spot_capacity",
            core_spot_capacity,
            "0 unless allow_spot_core=True: core nodes hold HDFS blocks, and a spot "
            "interruption loses them",
        )
    whole("task_spot_capacity", task_spot_capacity, 0, "a whole number of units, 0 or more")
    whole(
        "task_on_demand_capacity", task_on_demand_capacity, 0, "a whole number of units, 0 or more"
    )
    errors.require(
        isinstance(spot_timeout_minutes, int) and 5 <= spot_timeout_minutes <= 1440,
        "spot_timeout_minutes",
        spot_timeout_minutes,
        "5 to 1440 minutes",
    )
    if whole("max_capacity_units", max_capacity_units, 1, "a whole number of units, at least 1"):
        floor = (core_capacity if isinstance(core_capacity, int) else 0) + (
            core_spot_capacity if isinstance(core_spot_capacity, int) else 0
        )
        errors.require(
            max_capacity_units >= floor,
            "max_capacity_units",
            max_capacity_units,
            f"at least the core capacity ({floor})",
        )
        if whole("max_on_demand_units", max_on_demand_units, 1, "a whole number, at least 1"):
            errors.require(
                max_on_demand_units < max_capacity_units,
                "max_on_demand_units",
                max_on_demand_units,
                f"below max_capacity_units ({max_capacity_units}), so growth goes to spot",
            )
            errors.require(
                max_on_demand_units >= (core_capacity if isinstance(core_capacity, int) else 0),
                "max_on_demand_units",
                max_on_demand_units,
                f"at least core_capacity ({core_capacity}): core nodes are on-demand",
            )
    if idle_timeout_seconds is not None:
        low, high = IDLE_TIMEOUT_SECONDS
        errors.require(
            isinstance(idle_timeout_seconds, int) and low <= idle_timeout_seconds <= high,
            "idle_timeout_seconds",
            idle_timeout_seconds,
            f"{low} to {high} seconds (1 minute to 7 days), or None to keep the cluster up",
        )
    for prop, zones in (("readable_zones", readable_zones), ("writable_zones", writable_zones)):
        for zone in zones:
            errors.require(
                zone in lake.zones, prop, zone, f"the lake's zones ({', '.join(lake.zones)})"
            )
    if tls_certificates_s3_uri is not None:
        errors.require(
            bool(re.fullmatch(r"s3://[a-z0-9.-]{3,63}/.+\.zip", tls_certificates_s3_uri)),
            "tls_certificates_s3_uri",
            tls_certificates_s3_uri,
            "an s3:// URI of a .zip of PEM files (privateKey.pem, certificateChain.pem, ...)",
        )
    errors.require(
        (kerberos_realm is None) == (kdc_admin_password is None),
        "kerberos_realm/kdc_admin_password",
        (kerberos_realm, kdc_admin_password),
        "both or neither: a cluster-dedicated KDC needs its realm and an admin password",
    )
    if kerberos_realm is not None:
        errors.require(
            bool(re.fullmatch(r"[A-Z0-9.-]{1,255}", kerberos_realm)),
            "kerberos_realm",
            kerberos_realm,
            "an upper-case realm such as EC2.INTERNAL",
        )
    errors.raise_if_any()


__all__ = [
    "DEFAULT_APPLICATIONS",
    "DEFAULT_GPU_TYPES",
    "DEFAULT_RELEASE",
    "DEFAULT_TASK_TYPES",
    "FleetType",
    "SparkCluster",
    "SparkStep",
]
