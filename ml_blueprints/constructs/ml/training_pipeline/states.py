"""The training pipeline's states: the data step, what follows the training job, the model
and endpoint configuration, and their retries. Builders of ``(scope, options)``.

Every job step checks how its job ended: a job that did not end ``Completed`` (``Failed``,
``Stopped``) goes to the failure path whether or not the ``.sync`` integration reported it
as an error.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from ml_blueprints.constructs.ml.accelerated_instances import has_local_nvme
from ml_blueprints.constructs.ml.training_pipeline.options import TrainingDataStep
from ml_blueprints.constructs.ml.training_pipeline.source import (
    PROCESSING_CODE_DIR,
    container_path,
)

#: The run's name (``mlbp-<uuid>``): the name of its jobs, model and endpoint configuration.
RUN_NAME = "$.run.name"
#: Errors worth retrying: throttling and transient service trouble.
TRANSIENT_ERRORS = ("SageMaker.AmazonSageMakerException", "ThrottlingException", "States.Timeout")
#: Where the data step finds the events and writes the training set, in its container.
PROCESSING_EVENTS_DIR = "/opt/ml/processing/input/events"
PROCESSING_OUTPUT_DIR = "/opt/ml/processing/output"


def _task(resource: str) -> str:
    return f"arn:{cdk.Aws.PARTITION}:states:::sagemaker:{resource}"


def retry_and_catch(state: sfn.CustomState, failed: sfn.IChainable) -> None:
    """Retry transient errors 3 times from 30 s (backoff 2); anything else goes to
    ``failed`` with the error at ``$.error``."""
    state.add_retry(
        errors=list(TRANSIENT_ERRORS),
        interval=cdk.Duration.seconds(30),
        max_attempts=3,
        backoff_rate=2,
    )
    state.add_catch(failed, errors=["States.ALL"], result_path="$.error")


def data_step(
    scope: Construct,
    *,
    options: TrainingDataStep,
    image: str,
    role_arn: str,
    script: s3_assets.Asset,
    vpc_config: dict[str, object],
    key_arn: str,
    bucket_uri: str,
    input_prefix: str,
    failed: sfn.IChainable,
) -> tuple[sfn.CustomState, sfn.Choice]:
    """The Processing job that writes the run's training set to
    ``<bucket_uri>/<input_prefix><run>/``, and the Choice after it, whose default (to be set
    by the caller) is taken only when the job completed. The job's name, status and output
    location land at ``$.data``."""
    location = f"{bucket_uri}/{input_prefix}"
    prepare = sfn.CustomState(
        scope,
        "PrepareTrainingData",
        state_json={
            "Type": "Task",
            "Resource": _task("createProcessingJob.sync"),
            "Parameters": {
                "ProcessingJobName.$": RUN_NAME,
                "RoleArn": role_arn,
                "AppSpecification": {
                    "ImageUri": image,
                    "ContainerEntrypoint": [
                        "python3",
                        container_path(script, PROCESSING_CODE_DIR),
                    ],
                    "ContainerArguments": [
                        "--input-dir",
                        PROCESSING_EVENTS_DIR,
                        "--output-dir",
                        PROCESSING_OUTPUT_DIR,
                        *options.arguments(),
                    ],
                },
                "ProcessingInputs": [
                    {
                        "InputName": "code",
                        "S3Input": {
                            "S3Uri": script.s3_object_url,
                            "LocalPath": PROCESSING_CODE_DIR,
                            "S3DataType": "S3Prefix",
                            "S3InputMode": "File",
                        },
                    },
                    {
                        "InputName": "events",
                        "S3Input": {
                            "S3Uri": f"{bucket_uri}/{options.source_prefix}",
                            "LocalPath": PROCESSING_EVENTS_DIR,
                            "S3DataType": "S3Prefix",
                            "S3InputMode": "File",
                            "S3DataDistributionType": "FullyReplicated",
                        },
                    },
                ],
                "ProcessingOutputConfig": {
                    "Outputs": [
                        {
                            "OutputName": "training-set",
                            "S3Output": {
                                "S3Uri.$": f"States.Format('{location}{{}}/', {RUN_NAME})",
                                "LocalPath": PROCESSING_OUTPUT_DIR,
                                "S3UploadMode": "EndOfJob",
                            },
                        }
                    ],
                    "KmsKeyId": key_arn,
                },
                "ProcessingResources": {
                    "ClusterConfig": {
                        "InstanceCount": 1,
                        "InstanceType": options.instance_type,
                        "VolumeSizeInGB": options.volume_size_gib,
                        "VolumeKmsKeyId": key_arn,
                    }
                },
                "NetworkConfig": {
                    "EnableNetworkIsolation": True,
                    "EnableInterContainerTrafficEncryption": True,
                    "VpcConfig": vpc_config,
                },
                "StoppingCondition": {"MaxRuntimeInSeconds": options.max_runtime_seconds},
            },
            "ResultSelector": {
                "JobName.$": "$.ProcessingJobName",
                "Status.$": "$.ProcessingJobStatus",
                "TrainingSet.$": f"States.Format('{location}{{}}/', $.ProcessingJobName)",
            },
            "ResultPath": "$.data",
        },
    )
    retry_and_catch(prepare, failed)
    not_completed = sfn.Pass(
        scope,
        "DataStepDidNotComplete",
        parameters={
            "Error": "DataStepDidNotComplete",
            "Cause.$": "States.Format('Processing job {} ended {}', $.data.JobName, $.data.Status)",
        },
        result_path="$.error",
    )
    not_completed.next(failed)
    prepared = sfn.Choice(scope, "DataPrepared?")
    prepared.when(
        sfn.Condition.not_(sfn.Condition.string_equals("$.data.Status", "Completed")),
        not_completed,
    )
    prepare.next(prepared)
    return prepare, prepared


def training_outcome(
    scope: Construct, train: sfn.CustomState, failed: sfn.IChainable, *, data_step: bool
) -> list[sfn.Pass]:
    """After the training job (its description at ``$.trainingJob``): when it completed,
    the two states (with and without reported metrics) that keep ``run``, ``data`` and
    ``training`` (job name, model artifacts, times, ``FinalMetricDataList``) and drop the rest;
    otherwise the failure path."""
    job = "$.trainingJob"
    summary = {
        "JobName.$": f"{job}.TrainingJobName",
        "ModelArtifacts.$": f"{job}.ModelArtifacts.S3ModelArtifacts",
        "TrainingTimeInSeconds.$": f"{job}.TrainingTimeInSeconds",
        "BillableTimeInSeconds.$": f"{job}.BillableTimeInSeconds",
    }
    kept: dict[str, object] = {"run.$": "$.run"}
    if data_step:
        kept["data.$"] = "$.data"
    with_metrics = sfn.Pass(
        scope,
        "KeepResultAndMetrics",
        parameters={
            **kept,
            "training": {**summary, "FinalMetricDataList.$": f"{job}.FinalMetricDataList"},
        },
    )
    without_metrics = sfn.Pass(
        scope,
        "KeepResult",
        parameters={**kept, "training": {**summary, "FinalMetricDataList": []}},
    )
    not_completed = sfn.Pass(
        scope,
        "TrainingDidNotComplete",
        parameters={
            "Error": "TrainingJobDidNotComplete",
            "Cause.$": f"States.Format('Training job {{}} ended {{}}', {job}.TrainingJobName, "
            f"{job}.TrainingJobStatus)",
        },
        result_path="$.error",
    )
    not_completed.next(failed)
    completed = sfn.Condition.string_equals(f"{job}.TrainingJobStatus", "Completed")
    outcome = sfn.Choice(scope, "TrainingCompleted?")
    outcome.when(
        sfn.Condition.and_(completed, sfn.Condition.is_present(f"{job}.FinalMetricDataList")),
        with_metrics,
    )
    outcome.when(completed, without_metrics)
    outcome.otherwise(not_completed)
    train.next(outcome)
    return [with_metrics, without_metrics]


def registration(
    scope: Construct,
    *,
    image: str,
    environment: dict[str, str] | None,
    role_arn: str,
    vpc_config: dict[str, object],
    hosting_instance_type: str,
    capture_uri: str,
    key_arn: str,
) -> tuple[sfn.CustomState, sfn.CustomState]:
    """Create the model (``image`` serving ``$.training.ModelArtifacts``, network isolated,
    in the VPC) and an endpoint configuration for it (one ``hosting_instance_type``
    instance, 20 % data capture to ``capture_uri``, KMS)."""
    container: dict[str, object] = {
        "Image": image,
        "ModelDataUrl.$": "$.training.ModelArtifacts",
    }
    if environment:
        container["Environment"] = environment
    model = sfn.CustomState(
        scope,
        "CreateModel",
        state_json={
            "Type": "Task",
            "Resource": _task("createModel"),
            "Parameters": {
                "ModelName.$": RUN_NAME,
                "ExecutionRoleArn": role_arn,
                "PrimaryContainer": container,
                "VpcConfig": vpc_config,
                "EnableNetworkIsolation": True,
            },
            "ResultPath": "$.model",
        },
    )
    endpoint_config: dict[str, object] = {
        "EndpointConfigName.$": RUN_NAME,
        "ProductionVariants": [
            {
                "VariantName": "AllTraffic",
                "ModelName.$": RUN_NAME,
                "InstanceType": hosting_instance_type,
                "InitialInstanceCount": 1,
            }
        ],
        "DataCaptureConfig": {
            "EnableCapture": True,
            "InitialSamplingPercentage": 20,
            "DestinationS3Uri": capture_uri,
            "KmsKeyId": key_arn,
            "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
        },
    }
    if not has_local_nvme(hosting_instance_type):
        endpoint_config["KmsKeyId"] = key_arn
    config = sfn.CustomState(
        scope,
        "CreateEndpointConfig",
        state_json={
            "Type": "Task",
            "Resource": _task("createEndpointConfig"),
            "Parameters": endpoint_config,
            "ResultPath": "$.endpointConfig",
        },
    )
    return model, config
