"""SageMakerEndpoint: a real-time inference endpoint on GPU or Inferentia, autoscaled.

Opt-in by design: an endpoint on an accelerated instance bills every hour it exists, busy or
not. Data capture writes requests and responses to the lake for monitoring; target tracking
keeps invocations per instance near ``target_invocations_per_instance`` between
``min_instances`` and ``max_instances``.
"""

from __future__ import annotations

import re

import aws_cdk as cdk
from aws_cdk import aws_applicationautoscaling as autoscaling
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from ml_blueprints.compliance import acknowledge_rule, acknowledge_wildcard_resources
from ml_blueprints.constructs.ml.accelerated_instances import Use, has_local_nvme, why_invalid
from ml_blueprints.constructs.ml.images import default_image, image_problem, repository_arn
from ml_blueprints.constructs.shared.defaults import sagemaker_vpc_access
from ml_blueprints.constructs.shared.managed_policy_role import ManagedPolicyRole
from ml_blueprints.constructs.storage.private_network import PrivateNetwork
from ml_blueprints.constructs.storage.secure_data_lake import SecureDataLake
from ml_blueprints.validation import PropErrors, typed_props


class SageMakerEndpoint(Construct):
    """A model (``image`` + ``model_data_url``) served from a VPC-attached endpoint.

    Defaults:

    - ``instance_type`` ``ml.g5.xlarge`` (one A10G; ``ml.inf2.xlarge`` is cheaper for
      models compiled with Neuron).
    - ``image``: the Deep Learning Container that fits the instance's accelerator
      (:func:`~ml_blueprints.constructs.ml.images.default_image`: Hugging Face PyTorch
      inference with CUDA on GPUs, with Neuron on Inferentia2 and Trainium, PyTorch Neuron
      on inf1). An image built for another accelerator (a CUDA image on Inferentia, say) is
      refused.
    - ``endpoint_name``: ``mlbp-`` and a unique suffix.
    - Network isolation; the endpoint configuration encrypted with the lake key unless the
      type stores on hardware-encrypted local NVMe (SageMaker refuses a key then).
    - Data capture of 20% of requests and responses to ``capture_zone``/``data-capture/``
      (analytics).
    - Target tracking on invocations per instance (``target_invocations_per_instance`` 100)
      between ``min_instances`` (1) and ``max_instances`` (2), scaling in after 5 minutes
      and out after 1.

    Attributes: ``endpoint``, ``endpoint_name``, ``image``, ``model``, ``endpoint_config``,
    ``role``, ``scalable_target``.
    """

    @typed_props
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        lake: SecureDataLake,
        network: PrivateNetwork,
        model_data_url: str,
        image: str | None = None,
        instance_type: str = "ml.g5.xlarge",
        min_instances: int = 1,
        max_instances: int = 2,
        target_invocations_per_instance: int = 100,
        capture_zone: str = "analytics",
        capture_percentage: int = 20,
        endpoint_name: str | None = None,
    ) -> None:
        super().__init__(scope, id)
        errors = PropErrors("SageMakerEndpoint")
        why = why_invalid(instance_type, Use.HOSTING)
        errors.require(why is None, "instance_type", instance_type, why or "")
        counts_ok = errors.require(
            isinstance(min_instances, int) and min_instances >= 1,
            "min_instances",
            min_instances,
            "at least 1 (SageMaker endpoints do not scale to zero)",
        ) & errors.require(
            isinstance(max_instances, int) and 1 <= max_instances <= 100,
            "max_instances",
            max_instances,
            "1 to 100",
        )
        if counts_ok:
            errors.require(
                min_instances <= max_instances,
                "min_instances",
                min_instances,
                f"at most max_instances ({max_instances})",
            )
        errors.require(
            isinstance(target_invocations_per_instance, int)
            and target_invocations_per_instance >= 1,
            "target_invocations_per_instance",
            target_invocations_per_instance,
            "a whole number of invocations per minute, at least 1",
        )
        errors.require(
            isinstance(capture_percentage, int) and 0 <= capture_percentage <= 100,
            "capture_percentage",
            capture_percentage,
            "0 to 100",
        )
        errors.require(
            capture_zone in lake.zones,
            "capture_zone",
            capture_zone,
            f"one of {', '.join(lake.zones)}",
        )
        errors.require(
            cdk.Token.is_unresolved(model_data_url)
            or bool(re.fullmatch(r"s3://[a-z0-9.-]{3,63}/.+", model_data_url)),
            "model_data_url",
            model_data_url,
            "an s3:// URI of the model artifact (model.tar.gz)",
        )
        if image is not None:
            errors.require(bool(image.strip()), "image", image, "a container image URI")
            if why is None and not cdk.Token.is_unresolved(image):
                problem = image_problem(image, instance_type)
                errors.require(problem is None, "image", image, problem or "")
        if endpoint_name is not None and not cdk.Token.is_unresolved(endpoint_name):
            errors.require(
                bool(re.fullmatch(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}", endpoint_name)),
                "endpoint_name",
                endpoint_name,
                "1-63 letters, digits and hyphens, starting and ending with a letter or digit "
                "(SageMaker's endpoint name pattern)",
            )
        errors.raise_if_any()

        stack = cdk.Stack.of(self)
        image = image or default_image(instance_type, Use.HOSTING, stack.region)
        self.image = image
        capture = lake.bucket(capture_zone)
        self.role = ManagedPolicyRole(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com").with_conditions(
                {"StringEquals": {"aws:SourceAccount": stack.account}}
            ),
            description="The endpoint's model: its artifact, its image, its data capture",
        )
        model_object = _object_arn(model_data_url)
        wildcards = [capture.arn_for_objects("data-capture/*")]
        for statement in (
            iam.PolicyStatement(
                sid="ReadTheModel",
                actions=["s3:GetObject"],
                resources=[model_object],
            ),
            iam.PolicyStatement(
                sid="WriteDataCapture",
                actions=["s3:PutObject"],
                resources=wildcards,
            ),
            iam.PolicyStatement(
                sid="UseTheLakeKey",
                actions=[
                    "kms:Decrypt",
                    "kms:GenerateDataKey",
                    "kms:CreateGrant",
                    "kms:DescribeKey",
                ],
                resources=[lake.key.key_arn],
            ),
            iam.PolicyStatement(
                sid="PullTheImage",
                actions=["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
                resources=[repository_arn(image, cdk.Aws.PARTITION)],
            ),
            iam.PolicyStatement(
                sid="EcrLogin", actions=["ecr:GetAuthorizationToken"], resources=["*"]
            ),
            sagemaker_vpc_access(),
        ):
            self.role.add_to_principal_policy(statement)
        acknowledge_wildcard_resources(
            self.role.grants_policy,  # type: ignore[arg-type]
            [*wildcards, "*", repository_arn(image, cdk.Aws.PARTITION), model_object],
            "Captured requests are written under generated names in the data-capture prefix; "
            "ECR login and the VPC network-interface actions have no resource-level "
            "permissions; the image repository's name is only known as a pattern for images "
            "given by registry path.",
        )
        group = ec2.SecurityGroup(
            self,
            "SecurityGroup",
            vpc=network.vpc,
            description="SageMaker endpoint containers: no inbound, HTTPS to AWS endpoints",
            allow_all_outbound=False,
        )
        group.add_egress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "HTTPS to AWS endpoints")
        vpc_config = sagemaker.CfnModel.VpcConfigProperty(
            security_group_ids=[group.security_group_id],
            subnets=network.vpc.select_subnets(subnet_group_name="Private").subnet_ids,
        )
        self.model = sagemaker.CfnModel(
            self,
            "Model",
            execution_role_arn=self.role.role_arn,
            primary_container=sagemaker.CfnModel.ContainerDefinitionProperty(
                image=image, model_data_url=model_data_url
            ),
            vpc_config=vpc_config,
            enable_network_isolation=True,
        )
        self.model.node.add_dependency(self.role.grants_policy)  # type: ignore[arg-type]
        local_nvme = has_local_nvme(instance_type)
        self.endpoint_config = sagemaker.CfnEndpointConfig(
            self,
            "Config",
            kms_key_id=None if local_nvme else lake.key.key_arn,
            production_variants=[
                sagemaker.CfnEndpointConfig.ProductionVariantProperty(
                    variant_name="AllTraffic",
                    model_name=self.model.attr_model_name,
                    instance_type=instance_type,
                    initial_instance_count=min_instances,
                    initial_variant_weight=1,
                )
            ],
            data_capture_config=sagemaker.CfnEndpointConfig.DataCaptureConfigProperty(
                enable_capture=capture_percentage > 0,
                initial_sampling_percentage=capture_percentage,
                destination_s3_uri=f"s3://{capture.bucket_name}/data-capture/",
                kms_key_id=lake.key.key_arn,
                capture_options=[
                    sagemaker.CfnEndpointConfig.CaptureOptionProperty(capture_mode="Input"),
                    sagemaker.CfnEndpointConfig.CaptureOptionProperty(capture_mode="Output"),
                ],
            ),
        )
        if local_nvme:
            acknowledge_rule(
                self.endpoint_config,
                "SageMakerEndpointConfigurationKMSKeyConfigured",
                f"{instance_type} stores on local NVMe that the instance encrypts in hardware; "
                "SageMaker rejects a KMS key for such endpoint configurations. Captured data is "
                "KMS-encrypted in the lake.",
            )
        self.endpoint_name = endpoint_name or f"mlbp-{cdk.Names.unique_id(self)[-20:].lower()}"
        self.endpoint = sagemaker.CfnEndpoint(
            self,
            "Endpoint",
            endpoint_name=self.endpoint_name,
            endpoint_config_name=self.endpoint_config.attr_endpoint_config_name,
        )
        self.scalable_target = autoscaling.ScalableTarget(
            self,
            "Scaling",
            service_namespace=autoscaling.ServiceNamespace.SAGEMAKER,
            resource_id=f"endpoint/{self.endpoint_name}/variant/AllTraffic",
            scalable_dimension="sagemaker:variant:DesiredInstanceCount",
            min_capacity=min_instances,
            max_capacity=max_instances,
        )
        self.scalable_target.node.add_dependency(self.endpoint)
        self.scalable_target.scale_to_track_metric(
            "InvocationsPerInstance",
            target_value=target_invocations_per_instance,
            predefined_metric=autoscaling.PredefinedMetric.SAGEMAKER_VARIANT_INVOCATIONS_PER_INSTANCE,
            scale_in_cooldown=cdk.Duration.minutes(5),
            scale_out_cooldown=cdk.Duration.minutes(1),
        )


def _object_arn(s3_uri: str) -> str:
    if cdk.Token.is_unresolved(s3_uri):
        return f"arn:{cdk.Aws.PARTITION}:s3:::*"
    return f"arn:{cdk.Aws.PARTITION}:s3:::{s3_uri.removeprefix('s3://')}"
