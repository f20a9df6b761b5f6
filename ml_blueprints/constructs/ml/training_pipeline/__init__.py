"""TrainingPipeline: from the lake to a registered model, as a Step Functions state machine:
prepare the training set, fine-tune on accelerated instances, register the model and an
endpoint configuration.

The course notes' modelling section: deep learning (fine-tuning pre-trained Hugging Face
models with a low learning rate) trains on GPU or Trainium instances, inside the VPC,
against the lake, and serves on GPU or Inferentia. Training uses managed spot capacity with
checkpoints in the lake, network isolation and encrypted traffic between training
containers; data, artifacts and volumes are KMS-encrypted.

The code is the project's own: ``runtime/training_data.py`` (the data step) and
``runtime/fine_tuning/train.py`` (the training script), shipped as file assets; see
:mod:`.source` and :mod:`.options`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from ml_blueprints.constructs.ml.accelerated_instances import Use, has_local_nvme, why_invalid
from ml_blueprints.constructs.ml.images import (
    HUGGING_FACE_INFERENCE_IMAGE,
    HUGGING_FACE_TRAINING_IMAGE,
    default_image,
    image_problem,
)
from ml_blueprints.constructs.ml.training_pipeline.options import (
    DEFAULT_BASE_MODEL,
    METRIC_DEFINITIONS,
    RESERVED_HYPERPARAMETERS,
    TrainingDataStep,
    validate_base_model,
    validate_bundled,
    validate_hosting,
    validate_hyperparameters,
    validate_metric_definitions,
    validate_training_data,
)
from ml_blueprints.constructs.ml.training_pipeline.roles import (
    grant_pipeline,
    processing_role,
    training_role,
)
from ml_blueprints.constructs.ml.training_pipeline.source import (
    BUNDLED_ENTRY_POINT,
    BUNDLED_SOURCE_DIR,
    CODE_CHANNEL_DIR,
    DATA_SCRIPT,
    container_path,
    encoded,
    source_archive,
    validate_source,
)
from ml_blueprints.constructs.ml.training_pipeline.states import (
    RUN_NAME,
    data_step,
    registration,
    retry_and_catch,
    training_outcome,
)
from ml_blueprints.constructs.serving.results_table import ResultsTable, RunRecordTasks
from ml_blueprints.constructs.shared.alert_topic import AlertTopic
from ml_blueprints.constructs.shared.defaults import (
    LOG_RETENTION,
    LOG_RETENTION_ALLOWED,
    LOG_RETENTION_DAYS,
)
from ml_blueprints.constructs.shared.managed_policy_role import ManagedPolicyRole
from ml_blueprints.constructs.storage.private_network import PrivateNetwork
from ml_blueprints.constructs.storage.secure_data_lake import SecureDataLake
from ml_blueprints.validation import PropErrors, typed_props

__all__ = [
    "BUNDLED_ENTRY_POINT",
    "BUNDLED_SOURCE_DIR",
    "DEFAULT_BASE_MODEL",
    "HUGGING_FACE_INFERENCE_IMAGE",
    "HUGGING_FACE_TRAINING_IMAGE",
    "MAX_RUNTIME_SECONDS",
    "METRIC_DEFINITIONS",
    "TrainingDataStep",
    "TrainingPipeline",
]

MAX_RUNTIME_SECONDS = (60, 28 * 24 * 3600)
#: The hyperparameters the pipeline passes the bundled script (``hyperparameters`` add to
#: and override them); ``model_id`` is ``base_model_id``.
BUNDLED_HYPERPARAMETERS: Mapping[str, str] = {
    "epochs": "3",
    "learning_rate": "2e-05",
    "early_stopping_patience": "3",
    "metric_for_best_model": "f1",
}


class TrainingPipeline(Construct):
    """Prepare data -> fine-tune -> create model -> create endpoint configuration.

    **Data.** With ``training_data`` (default :class:`TrainingDataStep`: curated
    ``events/``, text ``text``, label ``label``, split by time, 20 % validation, on
    ``ml.m5.xlarge``), each run first turns the curated events of ``input_zone`` (curated)
    into ``<input_prefix><run>/train/`` and ``.../validation/`` (``input_prefix``
    ``training/``) with a SageMaker Processing job. ``training_data=None``: the job reads
    ``<input_prefix>train/`` and ``<input_prefix>validation/`` as they are (bring your own).

    **Training.** The job runs ``entry_point`` of ``source_dir`` (default: the bundled
    ``runtime/fine_tuning/train.py``) in ``training_image`` (default the Hugging Face
    PyTorch training container that fits the instance's accelerator:
    :data:`HUGGING_FACE_TRAINING_IMAGE` on GPUs, the Neuron one on Trainium; an image
    built for another accelerator is refused), shipped as a
    ``sourcedir.tar.gz`` file asset (``sagemaker_program``, ``sagemaker_submit_directory``).
    Channels: ``train``, ``validation``, ``code`` and, with ``base_model_id`` (default
    :data:`DEFAULT_BASE_MODEL`), ``pretrained`` from ``output_zone``/
    ``pretrained/<base_model_id>/``: the job has no internet access, so the pre-trained
    model is staged there once (see the README). ``hyperparameters`` (strings) add to and
    override :data:`BUNDLED_HYPERPARAMETERS` and ``model_id`` for the bundled script, and
    are passed alone for your own. ``metric_definitions`` default to the bundled script's
    :data:`METRIC_DEFINITIONS` (none for your own script). ``training_instance_type``
    ``ml.g5.2xlarge`` (one NVIDIA A10G 24 GB), one instance (more, with the bundled
    script, only with a distribution hyperparameter such as
    ``sagemaker_torch_distributed_enabled``), 100 GiB volume; managed spot
    training on (``use_spot``) with ``max_wait_seconds`` (2 x ``max_runtime_seconds``, 4 h)
    and checkpoints under ``checkpoints/<run>/`` in ``output_zone`` (analytics), from which
    an interrupted job resumes; model artifacts to ``output_zone``/``models/`` encrypted with
    the lake key, volumes too (types with local NVMe storage are encrypted by their
    hardware: SageMaker refuses a key for them); VPC config in the private subnets, network
    isolation and inter-container traffic encryption on.

    **Registration.** The model (``inference_image``, default the Hugging Face PyTorch
    inference container for the hosting type's accelerator, with
    ``HF_TASK=text-classification`` for the bundled script) and an endpoint configuration
    for ``hosting_instance_type`` (``ml.g5.xlarge``; Inferentia is refused: the pipeline
    does not compile the model for Neuron) with data capture to the lake. The execution's
    output carries the run name, the data step, and ``training``: the model artifacts, times
    and the job's ``FinalMetricDataList`` (empty when the job reported none): the paths
    :class:`~ml_blueprints.constructs.TrainingRunPaths` reads.

    State machine logging at level ALL to an encrypted group, X-Ray tracing; a failed step,
    and a job that ends ``Failed`` or ``Stopped``, goes to ``alerts`` and fails the run.

    **Run records.** With ``results`` (a :class:`~ml_blueprints.constructs.ResultsTable`;
    default ``None``: no records), every run is recorded in it, success or failure: after
    the endpoint configuration (job name, status, metrics, model artifact, times) and first
    on the failure path (the error and its cause), before the alert. A record that cannot be
    written still alerts: a failed success record takes the failure path, a failed failure
    record goes straight to ``alerts``.

    Attributes: ``state_machine``, ``training_role``, ``data_role`` (or ``None``),
    ``role``, ``security_group``, ``source_asset``, ``data_script_asset`` (or ``None``),
    ``pretrained_model_uri`` (where to stage the pre-trained model, or ``None``).
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
        training_data: TrainingDataStep | None = TrainingDataStep(),  # noqa: B008 (frozen)
        source_dir: str | Path | None = None,
        entry_point: str = BUNDLED_ENTRY_POINT,
        base_model_id: str | None = DEFAULT_BASE_MODEL,
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
        metric_definitions: Mapping[str, str] | None = None,
        results: ResultsTable | None = None,
        log_retention_days: int = 365,
        removal_policy: cdk.RemovalPolicy = cdk.RemovalPolicy.RETAIN,
    ) -> None:
        super().__init__(scope, id)
        bundled = source_dir is None
        wait = max_wait_seconds if max_wait_seconds is not None else 2 * max_runtime_seconds
        errors = PropErrors("TrainingPipeline")
        for prop, value, use in (
            ("training_instance_type", training_instance_type, Use.TRAINING),
            ("hosting_instance_type", hosting_instance_type, Use.HOSTING),
        ):
            why = why_invalid(value, use)
            errors.require(why is None, prop, value, why or "")
        validate_hosting(errors, hosting_instance_type)
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
            results is None or isinstance(results, ResultsTable),
            "results",
            results,
            "a ResultsTable to record every run in, or None",
        )
        errors.require(
            log_retention_days in LOG_RETENTION_DAYS,
            "log_retention_days",
            log_retention_days,
            LOG_RETENTION_ALLOWED,
        )
        validate_training_data(errors, training_data, input_prefix)
        code_dir = validate_source(
            errors, BUNDLED_SOURCE_DIR if bundled else source_dir, entry_point
        )
        validate_base_model(errors, base_model_id, bundled=bundled)
        given = dict(hyperparameters) if isinstance(hyperparameters, Mapping) else hyperparameters
        defaults: dict[str, str] = {}
        if bundled:
            defaults = {**BUNDLED_HYPERPARAMETERS, "model_id": base_model_id or DEFAULT_BASE_MODEL}
        validate_hyperparameters(
            errors,
            given if given is not None else {},
            len(RESERVED_HYPERPARAMETERS) + len(set(defaults) - set(given or {})),
        )
        validate_bundled(errors, training_instance_count, given, bundled=bundled)
        metrics = metric_definitions
        if metrics is None:
            metrics = METRIC_DEFINITIONS if bundled else {}
        validate_metric_definitions(errors, metrics)
        for prop, image, instance_type in (
            ("training_image", training_image, training_instance_type),
            ("inference_image", inference_image, hosting_instance_type),
        ):
            if isinstance(image, str) and not cdk.Token.is_unresolved(image):
                problem = image_problem(image, instance_type)
                errors.require(problem is None, prop, image, problem or "")
        errors.raise_if_any()
        assert code_dir is not None

        stack = cdk.Stack.of(self)
        region = stack.region
        # By default, the Deep Learning Container that fits each instance's accelerator.
        train_image = training_image or default_image(training_instance_type, Use.TRAINING, region)
        serve_image = inference_image or default_image(hosting_instance_type, Use.HOSTING, region)
        source = lake.bucket(input_zone)
        output = lake.bucket(output_zone)
        #: Where the pre-trained model is staged (``pretrained/<base_model_id>/`` of
        #: ``output_zone``), or None.
        self.pretrained_prefix = f"pretrained/{base_model_id}/" if base_model_id else None
        self.pretrained_model_uri = (
            f"s3://{output.bucket_name}/{self.pretrained_prefix}"
            if self.pretrained_prefix
            else None
        )
        self.source_asset = s3_assets.Asset(self, "SourceDir", path=str(source_archive(code_dir)))
        self.data_script_asset: s3_assets.Asset | None = None
        if training_data is not None:
            self.data_script_asset = s3_assets.Asset(self, "DataScript", path=str(DATA_SCRIPT))
        self.security_group = self._security_group(network)
        vpc_config = {
            "SecurityGroupIds": [self.security_group.security_group_id],
            "Subnets": network.vpc.select_subnets(subnet_group_name="Private").subnet_ids,
        }
        self.training_role = training_role(
            self,
            key=lake.key,
            source=source,
            input_prefix=input_prefix,
            output=output,
            code=self.source_asset,
            pretrained_prefix=self.pretrained_prefix,
            images=(train_image, serve_image),
        )
        self.data_role: ManagedPolicyRole | None = None
        if training_data is not None:
            assert self.data_script_asset is not None
            self.data_role = processing_role(
                self,
                key=lake.key,
                bucket=source,
                source_prefix=training_data.source_prefix,
                target_prefix=input_prefix,
                code=self.data_script_asset,
                images=(training_data.image or train_image,),
            )

        records = results.record_training_run(self) if results is not None else None
        failed = self._failure_path(alerts, records)
        name_run = sfn.Pass(
            self,
            "NameTheRun",
            parameters={"name.$": "States.Format('mlbp-{}', States.UUID())"},
            result_path="$.run",
        )
        chain: sfn.IChainable = name_run
        data_location = f"s3://{source.bucket_name}/{input_prefix}"
        if training_data is not None:
            assert self.data_script_asset is not None and self.data_role is not None
            prepare, prepared = data_step(
                self,
                options=training_data,
                image=training_data.image or train_image,
                role_arn=self.data_role.role_arn,
                script=self.data_script_asset,
                vpc_config=vpc_config,
                key_arn=lake.key.key_arn,
                bucket_uri=f"s3://{source.bucket_name}",
                input_prefix=input_prefix,
                failed=failed,
            )
            name_run.next(prepare)
            chain = prepared
            train_data = f"States.Format('{data_location}{{}}/train/', {RUN_NAME})"
            validation_data = f"States.Format('{data_location}{{}}/validation/', {RUN_NAME})"
            channel_uris = {
                "train": {"S3Uri.$": train_data},
                "validation": {"S3Uri.$": validation_data},
            }
        else:
            channel_uris = {
                "train": {"S3Uri": f"{data_location}train/"},
                "validation": {"S3Uri": f"{data_location}validation/"},
            }
        channels = {**channel_uris, "code": {"S3Uri": self.source_asset.s3_object_url}}
        if self.pretrained_prefix is not None:
            channels["pretrained"] = {"S3Uri": self.pretrained_model_uri}
        parameters = {
            **defaults,
            **(given or {}),
            "sagemaker_program": encoded(entry_point),
            "sagemaker_submit_directory": encoded(
                container_path(self.source_asset, CODE_CHANNEL_DIR)
            ),
            "sagemaker_region": encoded(region),
        }
        resource_config: dict[str, object] = {
            "InstanceType": training_instance_type,
            "InstanceCount": training_instance_count,
            "VolumeSizeInGB": volume_size_gib,
        }
        if not has_local_nvme(training_instance_type):
            resource_config["VolumeKmsKeyId"] = lake.key.key_arn
        stopping: dict[str, object] = {"MaxRuntimeInSeconds": max_runtime_seconds}
        algorithm: dict[str, object] = {"TrainingImage": train_image, "TrainingInputMode": "File"}
        if metrics:
            algorithm["MetricDefinitions"] = [
                {"Name": name, "Regex": regex} for name, regex in metrics.items()
            ]
        training: dict[str, object] = {
            "TrainingJobName.$": RUN_NAME,
            "RoleArn": self.training_role.role_arn,
            "AlgorithmSpecification": algorithm,
            "HyperParameters": parameters,
            "InputDataConfig": [
                {
                    "ChannelName": channel,
                    "DataSource": {
                        "S3DataSource": {
                            "S3DataType": "S3Prefix",
                            **uri,
                            "S3DataDistributionType": "FullyReplicated",
                        }
                    },
                }
                for channel, uri in channels.items()
            ],
            "OutputDataConfig": {
                "S3OutputPath": f"s3://{output.bucket_name}/models/",
                "KmsKeyId": lake.key.key_arn,
            },
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
                "S3Uri.$": f"States.Format('s3://{output.bucket_name}/checkpoints/{{}}/', "
                f"{RUN_NAME})"
            }
        train = sfn.CustomState(
            self,
            "Train",
            state_json={
                "Type": "Task",
                "Resource": f"arn:{cdk.Aws.PARTITION}:states:::sagemaker:createTrainingJob.sync",
                "Parameters": training,
                "ResultPath": "$.trainingJob",
            },
        )
        trained = training_outcome(self, train, failed, data_step=training_data is not None)
        model, config = registration(
            self,
            image=serve_image,
            environment={"HF_TASK": "text-classification"} if bundled else None,
            role_arn=self.training_role.role_arn,
            vpc_config=vpc_config,
            hosting_instance_type=hosting_instance_type,
            capture_uri=f"s3://{output.bucket_name}/data-capture/",
            key_arn=lake.key.key_arn,
        )
        for state in (train, model, config):
            retry_and_catch(state, failed)
        if isinstance(chain, sfn.Choice):
            chain.otherwise(train)
        else:
            chain.next(train)  # type: ignore[attr-defined]
        for keep in trained:
            keep.next(model)
        registered = sfn.Succeed(self, "Registered")
        if records is not None:
            records.succeeded.add_catch(failed, errors=["States.ALL"], result_path="$.error")
            model.next(config).next(records.succeeded).next(registered)
        else:
            model.next(config).next(registered)
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
        grant_pipeline(
            self.role,
            passed_roles=[r for r in (self.training_role, self.data_role) if r is not None],
            alerts_key=alerts.key,
            processing=training_data is not None,
        )
        if results is not None:
            results.grant_record_runs(self.role)
        data_seconds = training_data.max_runtime_seconds if training_data is not None else 0
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            definition_body=sfn.DefinitionBody.from_chainable(name_run),
            role=self.role,
            timeout=cdk.Duration.seconds(
                data_seconds + (wait if use_spot else max_runtime_seconds) + 3600
            ),
            tracing_enabled=True,
            logs=sfn.LogOptions(
                destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=True
            ),
            removal_policy=removal_policy,
        )
        self.state_machine.node.add_dependency(self.role.grants_policy)  # type: ignore[arg-type]

    # ---------------------------------------------------------------------------- builders

    def _security_group(self, network: PrivateNetwork) -> ec2.SecurityGroup:
        group = ec2.SecurityGroup(
            self,
            "SecurityGroup",
            vpc=network.vpc,
            description="SageMaker training and model containers (network isolated)",
            allow_all_outbound=False,
        )
        # Distributed training talks to itself; everything else goes through endpoints.
        group.add_ingress_rule(group, ec2.Port.all_tcp(), "Between training containers")
        group.add_egress_rule(group, ec2.Port.all_tcp(), "Between training containers")
        group.add_egress_rule(
            ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "HTTPS to the VPC's S3 gateway endpoint"
        )
        return group

    def _failure_path(self, alerts: AlertTopic, records: RunRecordTasks | None) -> sfn.IChainable:
        """Record the failure (when ``records``), alert, fail the run."""
        notify = alerts.notify_task(self, "ml-blueprints training pipeline failed")
        alerted = notify.next(sfn.Fail(self, "Failed", error="TrainingPipelineFailed"))
        if records is None:
            return alerted
        records.failed.add_catch(notify, errors=["States.ALL"], result_path="$.recordError")
        return records.failed.next(alerted)
