"""The training pipeline's IAM roles: one for SageMaker's training job and model, one for
the data step's Processing job, and the state machine's grants. Each reads and writes only
its own prefixes and code objects."""

from __future__ import annotations

from collections.abc import Sequence

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_assets as s3_assets
from constructs import Construct

from ml_blueprints.compliance import acknowledge_wildcard_resources
from ml_blueprints.constructs.ml.images import repository_arn
from ml_blueprints.constructs.shared.defaults import sagemaker_vpc_access
from ml_blueprints.constructs.shared.managed_policy_role import ManagedPolicyRole

#: The Deep Learning Containers' registry account (the Hugging Face images).
DLC_ACCOUNT = "763104351884"
#: The lake key actions a SageMaker job needs for its data, artifacts and volumes.
LAKE_KEY_ACTIONS = (
    "kms:Decrypt",
    "kms:Encrypt",
    "kms:GenerateDataKey",
    "kms:CreateGrant",
    "kms:DescribeKey",
)


def _sagemaker_role(scope: Construct, id: str, description: str) -> ManagedPolicyRole:
    return ManagedPolicyRole(
        scope,
        id,
        assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com").with_conditions(
            {"StringEquals": {"aws:SourceAccount": cdk.Stack.of(scope).account}}
        ),
        description=description,
    )


def _job_basics(
    stack: cdk.Stack, key: kms.IKey, images: Sequence[str]
) -> tuple[list[iam.PolicyStatement], list[str]]:
    """What every SageMaker job of the pipeline needs: the lake key, the images (the Deep
    Learning Containers, this account's repositories and the repositories of ``images``),
    its logs and metrics, the VPC; and the wildcard resources among them."""
    logs_arn = stack.format_arn(
        service="logs",
        resource="log-group",
        resource_name="/aws/sagemaker/*",
        arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
    )
    dlc = (
        f"arn:{cdk.Aws.PARTITION}:ecr:{stack.region}:{DLC_ACCOUNT}:repository/huggingface-pytorch-*"
    )
    own = stack.format_arn(service="ecr", resource="repository", resource_name="*")
    repositories = sorted({repository_arn(image, cdk.Aws.PARTITION) for image in images} - {dlc})
    statements = [
        iam.PolicyStatement(
            sid="UseTheLakeKey", actions=list(LAKE_KEY_ACTIONS), resources=[key.key_arn]
        ),
        iam.PolicyStatement(
            sid="PullDeepLearningContainers",
            actions=[
                "ecr:BatchGetImage",
                "ecr:GetDownloadUrlForLayer",
                "ecr:BatchCheckLayerAvailability",
            ],
            resources=[dlc, own, *repositories],
        ),
        iam.PolicyStatement(sid="EcrLogin", actions=["ecr:GetAuthorizationToken"], resources=["*"]),
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
    return statements, [logs_arn, f"{logs_arn}:*", "*", dlc, own, *repositories]


def _read_code(assets: Sequence[s3_assets.Asset]) -> list[iam.PolicyStatement]:
    """Read exactly the code objects (an input channel also lists its prefix)."""
    return [
        iam.PolicyStatement(
            sid="ReadTheCode",
            actions=["s3:GetObject"],
            resources=[a.bucket.arn_for_objects(a.s3_object_key) for a in assets],
        ),
        iam.PolicyStatement(
            sid="ListTheCodeBucket",
            actions=["s3:ListBucket"],
            resources=sorted({a.bucket.bucket_arn for a in assets}, key=str),
        ),
    ]


def training_role(
    scope: Construct,
    *,
    key: kms.IKey,
    source: s3.IBucket,
    input_prefix: str,
    output: s3.IBucket,
    code: s3_assets.Asset,
    pretrained_prefix: str | None,
    images: Sequence[str],
) -> ManagedPolicyRole:
    """SageMaker's role for the training job and the model: reads the training data (every
    run's, under ``input_prefix``), the pre-trained model (under ``pretrained_prefix`` of
    ``output``) and the code; writes models, checkpoints and data captures."""
    stack = cdk.Stack.of(scope)
    role = _sagemaker_role(
        scope, "TrainingRole", "SageMaker training jobs and models of this pipeline"
    )
    reads = [source.arn_for_objects(f"{input_prefix}*")]
    if pretrained_prefix is not None:
        reads.append(output.arn_for_objects(f"{pretrained_prefix}*"))
    writes = [
        output.arn_for_objects("models/*"),
        output.arn_for_objects("checkpoints/*"),
        output.arn_for_objects("data-capture/*"),
    ]
    basics, wildcards = _job_basics(stack, key, images)
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
        *_read_code([code]),
        *basics,
    ]
    for statement in statements:
        role.add_to_principal_policy(statement)
    acknowledge_wildcard_resources(
        role.grants_policy,  # type: ignore[arg-type]
        [*reads, *writes, *wildcards],
        "Training reads every run's prepared data under its prefix and writes artifacts and "
        "checkpoints it names at run time inside the pipeline's prefixes; SageMaker's log "
        "groups and image repositories are named by job and version; ECR login, "
        "PutMetricData (namespace-limited) and the VPC network-interface actions have no "
        "resource-level permissions.",
    )
    return role


def processing_role(
    scope: Construct,
    *,
    key: kms.IKey,
    bucket: s3.IBucket,
    source_prefix: str,
    target_prefix: str,
    code: s3_assets.Asset,
    images: Sequence[str],
) -> ManagedPolicyRole:
    """SageMaker's role for the data step: reads the curated events and the script, writes
    the training sets under ``target_prefix``."""
    stack = cdk.Stack.of(scope)
    role = _sagemaker_role(
        scope, "DataRole", "SageMaker Processing: curated events -> training set"
    )
    reads = [bucket.arn_for_objects(f"{source_prefix}*")]
    writes = [bucket.arn_for_objects(f"{target_prefix}*")]
    basics, wildcards = _job_basics(stack, key, images)
    statements = [
        iam.PolicyStatement(sid="ReadCuratedEvents", actions=["s3:GetObject"], resources=reads),
        iam.PolicyStatement(
            sid="WriteTrainingSets",
            actions=["s3:PutObject", "s3:AbortMultipartUpload"],
            resources=writes,
        ),
        iam.PolicyStatement(
            sid="ListTheZone",
            actions=["s3:ListBucket", "s3:GetBucketLocation"],
            resources=[bucket.bucket_arn],
        ),
        *_read_code([code]),
        *basics,
    ]
    for statement in statements:
        role.add_to_principal_policy(statement)
    acknowledge_wildcard_resources(
        role.grants_policy,  # type: ignore[arg-type]
        [*reads, *writes, *wildcards],
        "The data step reads the curated events (objects named by date at run time) and "
        "writes each run's training set under its own prefix; SageMaker's log groups and "
        "image repositories are named by job and version; ECR login, PutMetricData "
        "(namespace-limited) and the VPC network-interface actions have no resource-level "
        "permissions.",
    )
    return role


def grant_pipeline(
    role: ManagedPolicyRole,
    *,
    passed_roles: Sequence[iam.IRole],
    alerts_key: kms.IKey,
    processing: bool,
) -> None:
    """The state machine's grants: run the jobs (named ``mlbp-*``), register models and
    endpoint configurations, wait through EventBridge, pass the SageMaker roles, publish to
    the encrypted alert topic."""
    stack = cdk.Stack.of(role)

    def arn(resource: str) -> str:
        return stack.format_arn(service="sagemaker", resource=resource, resource_name="mlbp-*")

    def rule(name: str) -> str:
        return stack.format_arn(service="events", resource="rule", resource_name=name)

    jobs, models, configs = arn("training-job"), arn("model"), arn("endpoint-config")
    job_arns, rules = [jobs], [rule("StepFunctionsGetEventsForSageMakerTrainingJobsRule")]
    actions = [
        "sagemaker:CreateTrainingJob",
        "sagemaker:DescribeTrainingJob",
        "sagemaker:StopTrainingJob",
        "sagemaker:AddTags",
    ]
    if processing:
        job_arns.append(arn("processing-job"))
        rules.append(rule("StepFunctionsGetEventsForSageMakerProcessingJobsRule"))
        actions += [
            "sagemaker:CreateProcessingJob",
            "sagemaker:DescribeProcessingJob",
            "sagemaker:StopProcessingJob",
        ]
    statements = [
        iam.PolicyStatement(sid="RunJobs", actions=actions, resources=job_arns),
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
            sid="WaitForJobs",
            actions=["events:PutTargets", "events:PutRule", "events:DescribeRule"],
            resources=rules,
        ),
        iam.PolicyStatement(
            sid="PassTheSageMakerRoles",
            actions=["iam:PassRole"],
            resources=[passed.role_arn for passed in passed_roles],
            conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
        ),
        iam.PolicyStatement(
            sid="PublishToTheEncryptedTopic",
            actions=["kms:Decrypt", "kms:GenerateDataKey"],
            resources=[alerts_key.key_arn],
        ),
    ]
    for statement in statements:
        role.add_to_principal_policy(statement)
    acknowledge_wildcard_resources(
        role.grants_policy,  # type: ignore[arg-type]
        [*job_arns, models, configs, "*"],
        "Each run creates its jobs, model and endpoint configuration named mlbp-<uuid>; the "
        "wildcard is that naming prefix. Step Functions' log delivery and X-Ray actions have "
        "no resource-level permissions.",
    )
