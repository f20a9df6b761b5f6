"""GpuNotebook: a SageMaker notebook instance on a GPU, private, encrypted, stopping itself.

An idle GPU notebook is the classic surprise on an ML bill. This one lives in the VPC with no
direct internet access and no root access, encrypts its volume with the lake key, and a
lifecycle configuration installs a check, run every five minutes, that stops the instance
once no kernel has been busy for ``idle_stop_minutes``.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from ml_blueprints.compliance import acknowledge_wildcard_resources
from ml_blueprints.constructs.ml.accelerated_instances import Use, why_invalid
from ml_blueprints.constructs.shared.managed_policy_role import ManagedPolicyRole
from ml_blueprints.constructs.storage.private_network import PrivateNetwork
from ml_blueprints.constructs.storage.secure_data_lake import SecureDataLake
from ml_blueprints.validation import PropErrors, typed_props

IDLE_STOP_MINUTES = (15, 24 * 60)
#: The idle check. Jupyter's own API (on the instance, no network needed) says when each
#: kernel was last active; the instance stops itself through the SageMaker API endpoint.
IDLE_CHECK = r"""#!/usr/bin/env python3
import json, os, subprocess, sys, time, urllib.request, ssl
from datetime import datetime, timezone
IDLE = int(sys.argv[1])
ctx = ssl._create_unverified_context()
def last_activity():
    with urllib.request.urlopen("https://localhost:8443/api/sessions", context=ctx) as r:
        sessions = json.load(r)
    times = []
    for s in sessions:
        k = s.get("kernel") or {}
        if k.get("execution_state") == "busy":
            return datetime.now(timezone.utc)
        if k.get("last_activity"):
            times.append(datetime.fromisoformat(k["last_activity"].replace("Z", "+00:00")))
    return max(times) if times else None
boot = datetime.fromtimestamp(os.stat("/proc/1").st_ctime, timezone.utc)
last = last_activity() or boot
if (datetime.now(timezone.utc) - last).total_seconds() > IDLE:
    name = json.load(open("/opt/ml/metadata/resource-metadata.json"))["ResourceName"]
    subprocess.run(["aws", "sagemaker", "stop-notebook-instance", "--notebook-instance-name",
                    name], check=True)
"""


class GpuNotebook(Construct):
    """A SageMaker notebook instance on an accelerated type.

    Defaults: ``instance_type`` ``ml.g4dn.xlarge`` (one NVIDIA T4, the cheapest GPU
    notebook); in ``network``'s first private subnet with a security group that accepts
    nothing; direct internet access and root access off; a 50 GiB volume encrypted with the
    lake key; HTTPS out only; stops itself after ``idle_stop_minutes`` (60) without kernel
    activity; may read
    ``readable_zones`` (curated) and read and write ``writable_zones`` (analytics).

    The stop call goes to SageMaker's API through an interface endpoint for
    ``sagemaker.api`` in the VPC (the notebook has no internet): create one (the ML stack
    does). Attributes: ``notebook``, ``notebook_name``, ``role``, ``lifecycle``.
    """

    @typed_props
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        lake: SecureDataLake,
        network: PrivateNetwork,
        instance_type: str = "ml.g4dn.xlarge",
        idle_stop_minutes: int = 60,
        volume_size_gib: int = 50,
        readable_zones: Sequence[str] = ("curated",),
        writable_zones: Sequence[str] = ("analytics",),
        notebook_name: str | None = None,
    ) -> None:
        super().__init__(scope, id)
        errors = PropErrors("GpuNotebook")
        why = why_invalid(instance_type, Use.NOTEBOOK)
        errors.require(why is None, "instance_type", instance_type, why or "")
        low, high = IDLE_STOP_MINUTES
        errors.require(
            isinstance(idle_stop_minutes, int) and low <= idle_stop_minutes <= high,
            "idle_stop_minutes",
            idle_stop_minutes,
            f"{low} to {high} minutes (the check runs every 5 minutes)",
        )
        errors.require(
            isinstance(volume_size_gib, int) and 5 <= volume_size_gib <= 16384,
            "volume_size_gib",
            volume_size_gib,
            "5 to 16384 GiB",
        )
        for prop, zones in (("readable_zones", readable_zones), ("writable_zones", writable_zones)):
            for zone in zones:
                errors.require(zone in lake.zones, prop, zone, f"one of {', '.join(lake.zones)}")
        if notebook_name is not None:
            errors.require(
                bool(re.fullmatch(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}", notebook_name)),
                "notebook_name",
                notebook_name,
                "1-63 letters, digits and hyphens",
            )
        errors.raise_if_any()

        stack = cdk.Stack.of(self)
        self.notebook_name = notebook_name or f"mlbp-{cdk.Names.unique_id(self)[-20:].lower()}"
        notebook_arn = stack.format_arn(
            service="sagemaker", resource="notebook-instance", resource_name=self.notebook_name
        )
        self.role = ManagedPolicyRole(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com").with_conditions(
                {"StringEquals": {"aws:SourceAccount": stack.account}}
            ),
            description=f"Notebook {self.notebook_name}: its lake zones and stopping itself",
        )
        zone_objects = []
        for zone in sorted(set(readable_zones) | set(writable_zones)):
            bucket = lake.bucket(zone)
            zone_objects.append(bucket.arn_for_objects("*"))
            actions = ["s3:GetObject", "s3:ListBucket"]
            if zone in writable_zones:
                actions += ["s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]
            self.role.add_to_principal_policy(
                iam.PolicyStatement(
                    sid=f"Zone{zone.capitalize()}",
                    actions=actions,
                    resources=[bucket.bucket_arn, bucket.arn_for_objects("*")],
                )
            )
        acknowledge_wildcard_resources(
            self.role.grants_policy,  # type: ignore[arg-type]
            zone_objects,
            "A data scientist's notebook reads and writes objects it names as it works: the "
            "wildcards are the objects of the zones this notebook was given, nothing else.",
        )
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="UseTheLakeKey",
                actions=[
                    "kms:Decrypt",
                    "kms:GenerateDataKey",
                    "kms:DescribeKey",
                    "kms:CreateGrant",
                ],
                resources=[lake.key.key_arn],
            )
        )
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="StopWhenIdle",
                actions=["sagemaker:StopNotebookInstance", "sagemaker:DescribeNotebookInstance"],
                resources=[notebook_arn],
            )
        )
        group = ec2.SecurityGroup(
            self,
            "SecurityGroup",
            vpc=network.vpc,
            description=f"Notebook {self.notebook_name}: no inbound, HTTPS out to AWS endpoints",
            allow_all_outbound=False,
        )
        # HTTPS out only. The private subnets route nowhere but the VPC's endpoints (the S3
        # gateway endpoint's addresses are a per-region prefix list unknown offline).
        group.add_egress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "HTTPS to AWS endpoints")
        seconds = idle_stop_minutes * 60
        on_start = "\n".join(
            [
                "#!/bin/bash",
                "set -euo pipefail",
                "cat > /home/ec2-user/idle_check.py <<'PY'",
                IDLE_CHECK.strip(),
                "PY",
                f'echo "*/5 * * * * /usr/bin/python3 /home/ec2-user/idle_check.py {seconds} '
                '>> /home/ec2-user/idle_check.log 2>&1" | crontab -u ec2-user -',
            ]
        )
        self.lifecycle = sagemaker.CfnNotebookInstanceLifecycleConfig(
            self,
            "StopWhenIdle",
            notebook_instance_lifecycle_config_name=f"{self.notebook_name}-idle-stop",
            on_start=[
                sagemaker.CfnNotebookInstanceLifecycleConfig.NotebookInstanceLifecycleHookProperty(
                    content=base64.b64encode(on_start.encode()).decode()
                )
            ],
        )
        subnet = network.vpc.select_subnets(subnet_group_name="Private").subnet_ids[0]
        self.notebook = sagemaker.CfnNotebookInstance(
            self,
            "Notebook",
            notebook_instance_name=self.notebook_name,
            instance_type=instance_type,
            role_arn=self.role.role_arn,
            subnet_id=subnet,
            security_group_ids=[group.security_group_id],
            direct_internet_access="Disabled",
            root_access="Disabled",
            kms_key_id=lake.key.key_arn,
            volume_size_in_gb=volume_size_gib,
            platform_identifier="notebook-al2-v3",
            lifecycle_config_name=self.lifecycle.attr_notebook_instance_lifecycle_config_name,
        )
        self.notebook.node.add_dependency(self.role.grants_policy)  # type: ignore[arg-type]
        self.idle_stop_seconds = seconds
