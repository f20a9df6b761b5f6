"""TrainingPipeline: train on accelerated instances, then register a model and an endpoint
configuration, as a Step Functions state machine.

The course notes' modelling section: deep learning (fine-tuning pre-trained Hugging Face
models, for example) trains on GPU or Trainium instances, inside the VPC, against the lake.
Training uses managed spot capacity with checkpoints in the lake, network isolation and
encrypted traffic between training containers; artifacts and volumes are KMS-encrypted.
"""

from __future__ import annotations

from collections.abc import Mapping

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from ml_blueprints.compliance import acknowledge_wildcard_resources
from ml_blueprints.constructs.ml.accelerated_instances import Use, has_local_nvme, why_invalid
from ml_blueprints.constructs.ml.images import default_image, image_problem, repository_arn
from ml_blueprints.constructs.shared.alert_topic import AlertTopic
from ml_blueprints.constructs.shared.defaults import (
    LOG_RETENTION,
    LOG_RETENTION_ALLOWED,
    LOG_RETENTION_DAYS,
    sagemaker_vpc_access,
)
from ml_blueprints.constructs.shared.managed_policy_role import ManagedPolicyRole
from ml_blueprints.constructs.storage.private_network import PrivateNetwork
from ml_blueprints.constructs.storage.secure_data_lake import SecureDataLake
from ml_blueprints.validation import PropErrors, typed_props

#: The Hugging Face PyTorch training Deep Learning Container (AWS's account 763104351884),
#: the documented example image: ``{region}`` is filled in with the stack's region.
HUGGING_FACE_TRAINING_IMAGE = (
    "763104351884.dkr.ecr.{region}.amazonaws.com/huggingface-pytorch-training:"
    "2.5.1-transformers4.49.0-gpu-py311-cu124-ubuntu22.04"
)
HUGGING_FACE_INFERENCE_IMAGE = (
    "763104351884.dkr.ecr.{region}.amazonaws.com/huggingface-pytorch-inference:"
    "2.6.0-transformers4.51.3-gpu-py312-cu124-ubuntu22.04"
)
MAX_RUNTIME_SECONDS = (60, 28 * 24 * 3600)


class TrainingPipeline(Construct):
    """Train -> create model -> create endpoint configuration, as a state machine.

    Defaults: ``training_instance_type`` ``ml.g5.2xlarge`` (one NVIDIA A10G 24 GB: a 7B
    model's LoRA fine-tune), one instance, 100 GiB volume; managed spot training on
    (``use_spot``) with ``max_wait_seconds`` (2 x ``max_runtime_seconds``, 4 h) and
    checkpoints under ``checkpoints/<job>/`` in ``output_zone`` (analytics); input channel
    ``train`` from ``input_zone``/``input_prefix`` (curated ``training/``); model artifacts
    to ``output_zone``/``models/`` encrypted with the lake key, volumes too (types with local
    NVMe storage are encrypted by their hardware: SageMaker refuses a key for them); VPC
    config in the private subnets, network isolation and inter-container traffic encryption
    on; the model and endpoint configuration for ``hosting_instance_type`` (``ml.g5.xlarge``)
    with data capture to the lake. State machine logging at level ALL to an encrypted group,
    X-Ray tracing; failures go to ``alerts``.

    ``training_image``/``inference_image`` default to the Hugging Face PyTorch Deep Learning
    Container that fits each instance's accelerator (CUDA on GPUs, Neuron on Trainium and
    Inferentia: :func:`~ml_blueprints.constructs.ml.images.default_image`); an image built
    for another accelerator is refused. ``hyperparameters`` are passed as is.

    Attributes: ``state_machine``, ``training_role``, ``role``, ``security_group``.
    """

    @typed_props
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        lake: SecureDataLake,
        network: PrivateNetwork,
        alerts: AlertTopic,
        training_image: str | None = None,
        inference_image: str | None = None,
        training_instance_type: str = "ml.g5.2xlarge",
        training_instance_count: int = 1,
        volume_size_gib: int = 100,
        max_runtime_seconds: int = 4 * 3600,
        use_spot: bool = True,
        max_wait_seconds: int | None = None,
        hosting_instance_type: str = "ml.g5.xlarge",
        input_zone: str = "curated",
        input_prefix: str = "training/",
        output_zone: str = "analytics",
        hyperparameters: Mapping[str, str] | None = None,
        log_retention_days: int = 365,
        removal_policy: cdk.RemovalPolicy = cdk.RemovalPolicy.RETAIN,
    ) -> None:
        super().__init__(scope, id)
        wait = max_wait_seconds if max_wait_seconds is not None else 2 * max_runtime_seconds
        errors = PropErrors("TrainingPipeline")
        for prop, value, use in (
            ("training_instance_type", training_instance_type, Use.TRAINING),
            ("hosting_instance_type", hosting_instance_type, Use.HOSTING),
        ):
            why = why_invalid(value, use)
            errors.require(why is None, prop, value, why or "")
        errors.require(
            isinstance(training_instance_count, int) and 1 <= training_instance_count <= 100,
            "training_instance_count",
            training_instance_count,
            "1 to 100",
        )
        errors.require(
            isinstance(volume_size_gib, int) and 1 <= volume_size_gib <= 16384,
            "volume_size_gib",
            volume_size_gib,
            "1 to 16384 GiB",
        )
        low, high = MAX_RUNTIME_SECONDS
        runtime_ok = errors.require(
            isinstance(max_runtime_seconds, int) and low <= max_runtime_seconds <= high,
            "max_runtime_seconds",
            max_runtime_seconds,
            f"{low} to {high} seconds (28 days)",
        )
        if use_spot and runtime_ok:
            errors.require(
                isinstance(wait, int) and wait >= max_runtime_seconds,
                "max_wait_seconds",
                wait,
                f"at least max_runtime_seconds ({max_runtime_seconds}): it bounds training "
                "plus the time spent waiting for spot capacity",
            )
        elif not use_spot:
            errors.require(
                max_wait_seconds is None,
                "max_wait_seconds",
                max_wait_seconds,
                "unset unless use_spot: only spot training waits for capacity",
            )
        for prop, zone in (("input_zone", input_zone), ("output_zone", output_zone)):
            errors.require(zone in lake.zones, prop, zone, f"one of {', '.join(lake.zones)}")
        errors.require(
            isinstance(input_prefix, str) and input_prefix.endswith("/") and input_prefix[0] != "/",
            "input_prefix",
            input_prefix,
            "a key prefix ending in '/', e.g. 'training/'",
        )
        errors.require(
            log_retention_days in LOG_RETENTION_DAYS,
            "log_retention_days",
            log_retention_days,
            LOG_RETENTION_ALLOWED,
        )
        for prop, image, instance_type in (
            ("training_image", training_image, training_instance_type),
            ("inference_image", inference_image, hosting_instance_type),
        ):
            if image is not None and not cdk.Token.is_unresolved(image):
                problem = image_problem(image, instance_type)
                errors.require(problem is None, prop, image, problem or "")
        errors.raise_if_any()

        stack = cdk.Stack.of(self)
        region = stack.region
        # By default, the Deep Learning Container that fits each instance's accelerator.
        train_image = training_image or default_image(training_instance_type, Use.TRAINING, region)
        serve_image = inference_image or default_image(hosting_instance_type, Use.HOSTING, region)
        source = lake.bucket(input_zone)
        output = lake.bucket(output_zone)
        subnets = network.vpc.select_subnets(subnet_group_name="Private").subnet_ids
        self.security_group = ec2.SecurityGroup(
            self,
            "SecurityGroup",
            vpc=network.vpc,
            description="SageMaker training and model containers (network isolated)",
            allow_all_outbound=False,
        )
        # Distributed training talks to itself; everything else goes through endpoints.
        self.security_group.add_ingress_rule(
            self.security_group, ec2.Port.all_tcp(), "Between training containers"
        )
        self.security_group.add_egress_rule(
            self.security_group, ec2.Port.all_tcp(), "Between training containers"
        )
        self.security_group.add_egress_rule(
            ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "HTTPS to the VPC's S3 gateway endpoint"
        )
        vpc_config = {
            "SecurityGroupIds": [self.security_group.security_group_id],
            "Subnets": subnets,
        }
        self.training_role = self._training_role(
            lake, source, output, input_prefix, images=(train_image, serve_image)
        )

        name = "$.run.name"
        models = f"s3://{output.bucket_name}/models/"
        resource_config: dict[str, object] = {
            "InstanceType": training_instance_type,
            "InstanceCount": training_instance_count,
            "VolumeSizeInGB": volume_size_gib,
        }
        if not has_local_nvme(training_instance_type):
            resource_config["VolumeKmsKeyId"] = lake.key.key_arn
        stopping: dict[str, object] = {"MaxRuntimeInSeconds": max_runtime_seconds}
        training: dict[str, object] = {
            "TrainingJobName.$": name,
            "RoleArn": self.training_role.role_arn,
            "AlgorithmSpecification": {"TrainingImage": train_image, "TrainingInputMode": "File"},
            "HyperParameters": dict(hyperparameters or {}),
            "InputDataConfig": [
                {
                    "ChannelName": "train",
                    "DataSource": {
                        "S3DataSource": {
                            "S3DataType": "S3Prefix",
                            "S3Uri": f"s3://{source.bucket_name}/{input_prefix}",
                            "S3DataDistributionType": "FullyReplicated",
                        }
                    },
                }
            ],
            "OutputDataConfig": {"S3OutputPath": models, "KmsKeyId": lake.key.key_arn},
            "ResourceConfig": resource_config,
            "StoppingCondition": stopping,
            "VpcConfig": vpc_config,
            "EnableNetworkIsolation": True,
            "EnableInterContainerTrafficEncryption": True,
        }
        if use_spot:
            stopping["MaxWaitTimeInSeconds"] = wait
            training["EnableManagedSpotTraining"] = True
            training["CheckpointConfig"] = {
                "S3Uri.$": f"States.Format('s3://{output.bucket_name}/checkpoints/{{}}/', {name})"
            }
        name_run = sfn.Pass(
            self,
            "NameTheRun",
            parameters={"name.$": "States.Format('mlbp-{}', States.UUID())"},
            result_path="$.run",
        )
        train = sfn.CustomState(
            self,
            "Train",
            state_json={
                "Type": "Task",
                "Resource": f"arn:{cdk.Aws.PARTITION}:states:::sagemaker:createTrainingJob.sync",
                "Parameters": training,
                "ResultSelector": {
                    "ModelArtifacts.$": "$.ModelArtifacts.S3ModelArtifacts",
                    "TrainingTimeInSeconds.$": "$.TrainingTimeInSeconds",
                    "BillableTimeInSeconds.$": "$.BillableTimeInSeconds",
                },
                "ResultPath": "$.training",
            },
        )
        model = sfn.CustomState(
            self,
            "CreateModel",
            state_json={
                "Type": "Task",
                "Resource": f"arn:{cdk.Aws.PARTITION}:states:::sagemaker:createModel",
                "Parameters": {
                    "ModelName.$": name,
                    "ExecutionRoleArn": self.training_role.role_arn,
                    "PrimaryContainer": {
                        "Image": serve_image,
                        "ModelDataUrl.$": "$.training.ModelArtifacts",
                    },
                    "VpcConfig": vpc_config,
                    "EnableNetworkIsolation": True,
                },
                "ResultPath": "$.model",
            },
        )
        endpoint_config: dict[str, object] = {
            "EndpointConfigName.$": name,
            "ProductionVariants": [
                {
                    "VariantName": "AllTraffic",
                    "ModelName.$": name,
                    "InstanceType": hosting_instance_type,
                    "InitialInstanceCount": 1,
                }
            ],
            "DataCaptureConfig": {
                "EnableCapture": True,
                "InitialSamplingPercentage": 20,
                "DestinationS3Uri": f"s3://{output.bucket_name}/data-capture/",
                "KmsKeyId": lake.key.key_arn,
                "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
            },
        }
        if not has_local_nvme(hosting_instance_type):
            endpoint_config["KmsKeyId"] = lake.key.key_arn
        config = sfn.CustomState(
            self,
            "CreateEndpointConfig",
            state_json={
                "Type": "Task",
                "Resource": f"arn:{cdk.Aws.PARTITION}:states:::sagemaker:createEndpointConfig",
                "Parameters": endpoint_config,
                "ResultPath": "$.endpointConfig",
            },
        )
        failed = self._failure_path(alerts)
        for state in (train, model, config):
            state.add_retry(
                errors=[
                    "SageMaker.AmazonSageMakerException",
                    "ThrottlingException",
                    "States.Timeout",
                ],
                interval=cdk.Duration.seconds(30),
                max_attempts=3,
                backoff_rate=2,
            )
            state.add_catch(failed, errors=["States.ALL"], result_path="$.error")
        definition = (
            name_run.next(train).next(model).next(config).next(sfn.Succeed(self, "Registered"))
        )
        log_group = logs.LogGroup(
            self,
            "Logs",
            encryption_key=lake.key,
            retention=LOG_RETENTION[log_retention_days],
            removal_policy=removal_policy,
        )
        self.role = ManagedPolicyRole(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("states.amazonaws.com").with_conditions(
                {"StringEquals": {"aws:SourceAccount": stack.account}}
            ),
            description="Runs the training pipeline: SageMaker jobs, models, endpoint configs",
        )
        self._grant_pipeline(stack, alerts.key)
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            definition_body=sfn.DefinitionBody.from_chainable(definition),
            role=self.role,
            timeout=cdk.Duration.seconds(wait + 3600),
            tracing_enabled=True,
            logs=sfn.LogOptions(
                destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=True
            ),
            removal_policy=removal_policy,
        )
        self.state_machine.node.add_dependency(self.role.grants_policy)  # type: ignore[arg-type]

    # ---------------------------------------------------------------------------- builders

    def _training_role(
        self,
        lake: SecureDataLake,
        source: s3.IBucket,
        output: s3.IBucket,
        input_prefix: str,
        images: tuple[str, str],
    ) -> ManagedPolicyRole:
        stack = cdk.Stack.of(self)
        repositories = sorted({repository_arn(image, cdk.Aws.PARTITION) for image in images})
        role = ManagedPolicyRole(
            self,
            "TrainingRole",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com").with_conditions(
                {"StringEquals": {"aws:SourceAccount": stack.account}}
            ),
            description="SageMaker training jobs and models of this pipeline",
        )
        reads = [source.arn_for_objects(f"{input_prefix}*")]
        writes = [
            output.arn_for_objects("models/*"),
            output.arn_for_objects("checkpoints/*"),
            output.arn_for_objects("data-capture/*"),
        ]
        logs_arn = stack.format_arn(
            service="logs",
            resource="log-group",
            resource_name="/aws/sagemaker/*",
            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
        )
        statements = [
            iam.PolicyStatement(sid="ReadTrainingData", actions=["s3:GetObject"], resources=reads),
            iam.PolicyStatement(
                sid="WriteModelsCheckpointsAndCaptures",
                actions=["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"],
                resources=writes,
            ),
            iam.PolicyStatement(
                sid="ListTheZones",
                actions=["s3:ListBucket", "s3:GetBucketLocation"],
                resources=sorted({source.bucket_arn, output.bucket_arn}, key=str),
            ),
            iam.PolicyStatement(
                sid="UseTheLakeKey",
                actions=[
                    "kms:Decrypt",
                    "kms:Encrypt",
                    "kms:GenerateDataKey",
                    "kms:CreateGrant",
                    "kms:DescribeKey",
                ],
                resources=[lake.key.key_arn],
            ),
            iam.PolicyStatement(
                sid="PullDeepLearningContainers",
                actions=[
                    "ecr:BatchGetImage",
                    "ecr:GetDownloadUrlForLayer",
                    "ecr:BatchCheckLayerAvailability",
                ],
                resources=[
                    f"arn:{cdk.Aws.PARTITION}:ecr:{stack.region}:763104351884:repository/"
                    "huggingface-pytorch-*",
                    stack.format_arn(service="ecr", resource="repository", resource_name="*"),
                    *repositories,
                ],
            ),
            iam.PolicyStatement(
                sid="EcrLogin", actions=["ecr:GetAuthorizationToken"], resources=["*"]
            ),
            iam.PolicyStatement(
                sid="WriteJobLogs",
                actions=[
                    "logs:CreateLogGroup",
                    "logs:CreateLogStream",
                    "logs:PutLogEvents",
                    "logs:DescribeLogStreams",
                ],
                resources=[logs_arn, f"{logs_arn}:*"],
            ),
            iam.PolicyStatement(
                sid="PublishJobMetrics",
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],
                conditions={"StringLike": {"cloudwatch:namespace": "/aws/sagemaker/*"}},
            ),
            sagemaker_vpc_access(),
        ]
        for statement in statements:
            role.add_to_principal_policy(statement)
        acknowledge_wildcard_resources(
            role.grants_policy,  # type: ignore[arg-type]
            [
                *reads,
                *writes,
                logs_arn,
                f"{logs_arn}:*",
                "*",
                f"arn:{cdk.Aws.PARTITION}:ecr:{stack.region}:763104351884:repository/"
                "huggingface-pytorch-*",
                stack.format_arn(service="ecr", resource="repository", resource_name="*"),
                *repositories,
            ],
            "Training writes artifacts and checkpoints it names at run time inside the "
            "pipeline's prefixes; SageMaker's log groups and image repositories are named by "
            "job and version; ECR login, PutMetricData (namespace-limited) and the VPC "
            "network-interface actions have no resource-level permissions.",
        )
        return role

    def _grant_pipeline(self, stack: cdk.Stack, alerts_key: kms.IKey) -> None:
        def arn(resource: str) -> str:
            return stack.format_arn(service="sagemaker", resource=resource, resource_name="mlbp-*")

        jobs, models, configs = arn("training-job"), arn("model"), arn("endpoint-config")
        rule = stack.format_arn(
            service="events",
            resource="rule",
            resource_name="StepFunctionsGetEventsForSageMakerTrainingJobsRule",
        )
        statements = [
            iam.PolicyStatement(
                sid="RunTrainingJobs",
                actions=[
                    "sagemaker:CreateTrainingJob",
                    "sagemaker:DescribeTrainingJob",
                    "sagemaker:StopTrainingJob",
                    "sagemaker:AddTags",
                ],
                resources=[jobs],
            ),
            iam.PolicyStatement(
                sid="RegisterModelsAndEndpointConfigs",
                actions=[
                    "sagemaker:CreateModel",
                    "sagemaker:CreateEndpointConfig",
                    "sagemaker:AddTags",
                ],
                resources=[models, configs],
            ),
            iam.PolicyStatement(
                sid="WaitForTrainingJobs",
                actions=["events:PutTargets", "events:PutRule", "events:DescribeRule"],
                resources=[rule],
            ),
            iam.PolicyStatement(
                sid="PassTheTrainingRole",
                actions=["iam:PassRole"],
                resources=[self.training_role.role_arn],
                conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
            ),
            iam.PolicyStatement(
                sid="PublishToTheEncryptedTopic",
                actions=["kms:Decrypt", "kms:GenerateDataKey"],
                resources=[alerts_key.key_arn],
            ),
        ]
        for statement in statements:
            self.role.add_to_principal_policy(statement)
        acknowledge_wildcard_resources(
            self.role.grants_policy,  # type: ignore[arg-type]
            [jobs, models, configs, "*"],
            "Each run creates a training job, model and endpoint configuration named "
            "mlbp-<uuid>; the wildcard is that naming prefix. Step Functions' log delivery "
            "and X-Ray actions have no resource-level permissions.",
        )

    def _failure_path(self, alerts: AlertTopic) -> sfn.IChainable:
        notify = alerts.notify_task(self, "ml-blueprints training pipeline failed")
        return notify.next(sfn.Fail(self, "Failed", error="TrainingPipelineFailed"))
