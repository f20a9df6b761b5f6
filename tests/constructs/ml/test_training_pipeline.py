"""TrainingPipeline: the state machine from curated events to a registered model, its code
assets, roles, and every validation rule.

Definitions are read from the synthesized templates with each CloudFormation intrinsic
replaced by a numbered placeholder, so a test can say which reference a field holds (the
lake key, the curated bucket), not only that it holds one.
"""

from __future__ import annotations

import io
import json
import re
import tarfile
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import botocore.session
import pytest

from ml_blueprints.constructs import (
    AlertTopic,
    PrivateNetwork,
    SecureDataLake,
    TrainingRunPaths,
)
from ml_blueprints.constructs.ml.images import (
    HUGGING_FACE_NEURONX_TRAINING_IMAGE as NEURONX_TRAINING,
)
from ml_blueprints.constructs.ml.images import (
    HUGGING_FACE_TRAINING_IMAGE as HF_CUDA_TRAINING,
)
from ml_blueprints.constructs.ml.training_pipeline import (
    BUNDLED_SOURCE_DIR,
    METRIC_DEFINITIONS,
    TrainingDataStep,
    TrainingPipeline,
)
from ml_blueprints.constructs.ml.training_pipeline import options as opts
from ml_blueprints.constructs.ml.training_pipeline.source import (
    DATA_SCRIPT,
    archive_bytes,
    source_files,
)
from tests.asl_sim import TaskError, run
from tests.conftest import Synthesized
from tests.constructs.serving.test_results_table import _render
from tests.constructs.variants import OWN_TRAINING_CODE
from tests.runtime.test_fine_tuning import PIPELINE_HYPERPARAMETERS


class Definition:
    """A state machine's definition with its intrinsics as ``@N@`` placeholders."""

    def __init__(self, synth: Synthesized, stack_id: str, path: str = "Training") -> None:
        self.synth, self.stack_id = synth, stack_id
        pipeline: TrainingPipeline = synth.stack(stack_id).node.find_child(path)  # type: ignore[assignment]
        self.pipeline = pipeline
        logical_id = synth.stack(stack_id).get_logical_id(
            pipeline.state_machine.node.default_child  # type: ignore[arg-type]
        )
        machine = synth.template_json(stack_id)["Resources"][logical_id]
        self.properties = machine["Properties"]
        self.intrinsics: list[Any] = []
        text = ""
        for part in self.properties["DefinitionString"]["Fn::Join"][1]:
            if isinstance(part, str):
                text += part
            else:
                self.intrinsics.append(part)
                text += f"@{len(self.intrinsics) - 1}@"
        self.states: dict[str, Any] = json.loads(text)["States"]
        self.json = json.loads(text)

    def ref(self, value: str) -> str:
        """``value`` with each placeholder replaced by its intrinsic as compact JSON."""
        return re.sub(r"@(\d+)@", lambda m: json.dumps(self.intrinsics[int(m.group(1))]), value)

    def params(self, state: str) -> dict[str, Any]:
        return self.states[state]["Parameters"]


@pytest.fixture(scope="module")
def default(project: Synthesized) -> Definition:
    return Definition(project, "Ml")


@pytest.fixture(scope="module")
def own_code(construct_variants: Synthesized) -> Definition:
    return Definition(construct_variants, "TrainingVariants")


@pytest.fixture(scope="module")
def by_entity(construct_variants: Synthesized) -> Definition:
    return Definition(construct_variants, "TrainingVariants", "ByEntity")


def _output(name: str) -> str:
    """How the Ml stack names a DataLake stack output (a weak cross-stack reference)."""
    return f'"OutputName": "PublishOutput{name}'


CURATED, ANALYTICS, LAKE_KEY = (
    _output("RefLakeCuratedBucket"),
    _output("RefLakeAnalyticsBucket"),
    _output("FnGetAttLakeKey"),
)


def _asset(synth: Synthesized, stack_id: str, key: str) -> Path:
    """The staged file of the asset whose object key is ``key``."""
    manifest = json.loads((synth.outdir / f"{stack_id}.assets.json").read_text())
    [entry] = [
        asset
        for asset in manifest["files"].values()
        if {d["objectKey"] for d in asset["destinations"].values()} == {key}
    ]
    return synth.outdir / entry["source"]["path"]


def _object_key(definition: Definition, uri: str) -> str:
    """The object key of an asset URL placeholder (``s3://<bootstrap bucket>/<key>``)."""
    intrinsic = definition.ref(uri)
    match = re.search(r"/([0-9a-f]{64}\.[a-z]+)(\"|$)", intrinsic)
    assert match, intrinsic
    return match.group(1)


# ---------------------------------------------------------------------------- the flow


def test_the_states_run_from_curated_events_to_a_registered_model(default: Definition) -> None:
    states = default.states
    assert default.json["StartAt"] == "NameTheRun"
    assert states["NameTheRun"]["Next"] == "PrepareTrainingData"
    assert states["PrepareTrainingData"]["Next"] == "DataPrepared?"
    assert states["DataPrepared?"]["Default"] == "Train"
    assert states["Train"]["Next"] == "TrainingCompleted?"
    assert [c["Next"] for c in states["TrainingCompleted?"]["Choices"]] == [
        "KeepResultAndMetrics",
        "KeepResult",
    ]
    assert states["TrainingCompleted?"]["Default"] == "TrainingDidNotComplete"
    assert states["KeepResultAndMetrics"]["Next"] == states["KeepResult"]["Next"] == "CreateModel"
    assert states["CreateModel"]["Next"] == "CreateEndpointConfig"
    assert states["CreateEndpointConfig"]["Next"] == "RecordSucceeded"
    assert states["RecordSucceeded"]["Next"] == "Registered"


# ------------------------------------------------------------------------ run records

RUN_CONTEXT = {
    "$$.Execution.StartTime": "2026-11-24T10:00:00Z",
    "$$.State.EnteredTime": "2026-11-24T11:00:00Z",
    "$$.StateMachine.Name": "mlbp-dev-training",
    "$$.Execution.Id": "arn:aws:states:eu-west-1:111122223333:execution:mlbp-dev-training:x",
}


def _recording(definition: Definition, recorded: list[dict[str, Any]], fail: set[str]) -> Any:
    """Task functions for the record states: each renders its Parameters against the state
    (what Step Functions would send DynamoDB) and keeps the item, or fails when named."""

    def record(state: str) -> Any:
        def call(document: Any) -> Any:
            if state in fail:
                raise TaskError("DynamoDB.AmazonDynamoDBException", f"{state} failed")
            parameters = _render(definition.params(state), document, RUN_CONTEXT)
            recorded.append({k: next(iter(v.values())) for k, v in parameters["Item"].items()})
            return {}

        return call

    return {"RecordSucceeded": record("RecordSucceeded"), "RecordFailed": record("RecordFailed")}


def test_a_completed_run_is_recorded_in_the_results_table(
    default: Definition, project: Synthesized
) -> None:
    recorded: list[dict[str, Any]] = []
    status, visited, output = run(
        default.json, {**_tasks(), **_recording(default, recorded, set())}
    )
    assert status == "SUCCEEDED" and visited[-2:] == ["RecordSucceeded", "Registered"]
    [item] = recorded
    assert (item["job_name"], item["status"]) == (output["run"]["name"], "SUCCEEDED")
    assert (item["pipeline"], item["started_at"]) == ("mlbp-dev-training", "2026-11-24T10:00:00Z")
    assert item["model_artifact"] == "s3://b/models/mlbp-1/output/model.tar.gz"
    assert json.loads(item["metrics"])[0]["MetricName"] == "validation:f1"
    assert (item["training_seconds"], item["billable_seconds"]) == ("600", "240")
    table = default.ref(json.dumps(default.params("RecordSucceeded")["TableName"]))
    assert '"OutputName": "PublishOutputRefResults' in table  # the Serving stack's table


@pytest.mark.parametrize(
    ("failing", "expected_error"),
    [
        ("Train", "States.TaskFailed"),
        ("PrepareTrainingData", "States.TaskFailed"),
        ("CreateEndpointConfig", "States.TaskFailed"),
    ],
)
def test_a_failed_run_is_recorded_before_the_alert(
    default: Definition, failing: str, expected_error: str
) -> None:
    recorded: list[dict[str, Any]] = []
    status, visited, output = run(
        default.json, {**_tasks(fail=failing), **_recording(default, recorded, set())}
    )
    assert status == "FAILED"
    assert visited[-3:] == ["RecordFailed", "NotifyFailure", "Failed"]
    [item] = recorded
    assert (item["job_name"], item["status"]) == (output["run"]["name"], "FAILED")
    assert (item["error"], item["cause"]) == (expected_error, f"{failing} failed")


def test_a_run_whose_record_cannot_be_written_still_alerts(default: Definition) -> None:
    # The success record fails: the failure path records (it fails too) and alerts.
    recorded: list[dict[str, Any]] = []
    status, visited, output = run(
        default.json,
        {**_tasks(), **_recording(default, recorded, {"RecordSucceeded", "RecordFailed"})},
    )
    assert status == "FAILED" and recorded == []
    assert visited[-4:] == ["RecordSucceeded", "RecordFailed", "NotifyFailure", "Failed"]
    assert output["error"]["Cause"] == "RecordSucceeded failed"
    assert output["recordError"]["Cause"] == "RecordFailed failed"


def test_the_pipeline_role_may_put_run_records_with_the_tables_key(project: Synthesized) -> None:
    [policy] = [
        r["Properties"]["PolicyDocument"]["Statement"]
        for r in project.resources("Ml", "AWS::IAM::ManagedPolicy").values()
        if "dynamodb:PutItem" in json.dumps(r)
    ]
    puts = [s for s in policy if "dynamodb:PutItem" in json.dumps(s["Action"])]
    assert puts and all("Results" in json.dumps(s["Resource"]) for s in puts)
    key_grants = [s for s in policy if "kms:" in json.dumps(s["Action"])]
    assert any("Results" in json.dumps(s["Resource"]) for s in key_grants), key_grants


def test_without_a_results_table_no_run_is_recorded(own_code: Definition) -> None:
    assert not {"RecordSucceeded", "RecordFailed"} & set(own_code.states)


def _describe_training(status: str = "Completed", metrics: bool = True) -> dict[str, Any]:
    job = {
        "TrainingJobName": "mlbp-1",
        "TrainingJobStatus": status,
        "ModelArtifacts": {"S3ModelArtifacts": "s3://b/models/mlbp-1/output/model.tar.gz"},
        "TrainingTimeInSeconds": 600,
        "BillableTimeInSeconds": 240,
        "HyperParameters": {"epochs": "3"},
    }
    if metrics:
        job["FinalMetricDataList"] = [
            {"MetricName": "validation:f1", "Value": 0.91, "Timestamp": "2026-03-01T00:00:00Z"}
        ]
    return job


def _tasks(
    *,
    fail: str | None = None,
    data_status: str = "Completed",
    training: dict[str, Any] | None = None,
) -> dict[str, Any]:
    def task(name: str, result: Any) -> Any:
        def call(document: Any) -> Any:
            if fail == name:
                raise TaskError("States.TaskFailed", f"{name} failed")
            return result

        return call

    return {
        "PrepareTrainingData": task(
            "PrepareTrainingData",
            {"ProcessingJobName": "mlbp-1", "ProcessingJobStatus": data_status},
        ),
        "Train": task("Train", training or _describe_training()),
        "CreateModel": task("CreateModel", {"ModelArn": "arn:model"}),
        "CreateEndpointConfig": task("CreateEndpointConfig", {"EndpointConfigArn": "arn:c"}),
        "RecordSucceeded": task("RecordSucceeded", {}),
        "RecordFailed": task("RecordFailed", {}),
        "NotifyFailure": lambda _: {},
    }


def test_a_run_carries_the_final_metrics_in_its_output(default: Definition) -> None:
    status, visited, output = run(default.json, _tasks(), {"note": "from the caller"})
    assert status == "SUCCEEDED"
    assert visited == [
        "NameTheRun",
        "PrepareTrainingData",
        "DataPrepared?",
        "Train",
        "TrainingCompleted?",
        "KeepResultAndMetrics",
        "CreateModel",
        "CreateEndpointConfig",
        "RecordSucceeded",
        "Registered",
    ]
    assert output["training"] == {
        "JobName": "mlbp-1",
        "ModelArtifacts": "s3://b/models/mlbp-1/output/model.tar.gz",
        "TrainingTimeInSeconds": 600,
        "BillableTimeInSeconds": 240,
        "FinalMetricDataList": [
            {"MetricName": "validation:f1", "Value": 0.91, "Timestamp": "2026-03-01T00:00:00Z"}
        ],
    }
    assert output["data"]["JobName"] == "mlbp-1" and output["data"]["Status"] == "Completed"
    assert "trainingJob" not in output  # the job's description is not carried along
    assert set(output) == {"run", "data", "training", "model", "endpointConfig"}


def test_the_output_is_what_a_results_table_records(default: Definition) -> None:
    """ResultsTable.record_training_run reads a run with TrainingRunPaths' defaults."""
    _, _, output = run(default.json, _tasks())
    paths = TrainingRunPaths()
    for path in (
        paths.job_name,
        paths.model_artifact,
        paths.metrics,
        paths.training_seconds,
        paths.billable_seconds,
    ):
        assert path is not None
        value: Any = output
        for part in path.removeprefix("$.").split("."):
            value = value[part]
        assert value not in (None, "", [])


def test_a_job_that_reported_no_metrics_still_registers(default: Definition) -> None:
    status, visited, output = run(default.json, _tasks(training=_describe_training(metrics=False)))
    assert status == "SUCCEEDED" and "KeepResult" in visited
    assert output["training"]["FinalMetricDataList"] == []


@pytest.mark.parametrize("job_status", ["Stopped", "Failed"])
def test_a_training_job_that_did_not_complete_is_alerted(
    default: Definition, job_status: str
) -> None:
    status, visited, output = run(
        default.json, _tasks(training=_describe_training(status=job_status))
    )
    assert status == "FAILED"
    assert visited[-5:] == [
        "TrainingCompleted?",
        "TrainingDidNotComplete",
        "RecordFailed",
        "NotifyFailure",
        "Failed",
    ]
    assert output["error"]["Error"] == "TrainingJobDidNotComplete"


@pytest.mark.parametrize("job_status", ["Stopped", "Failed"])
def test_a_data_step_that_did_not_complete_is_alerted(default: Definition, job_status: str) -> None:
    status, visited, output = run(default.json, _tasks(data_status=job_status))
    assert status == "FAILED"
    assert visited[-5:] == [
        "DataPrepared?",
        "DataStepDidNotComplete",
        "RecordFailed",
        "NotifyFailure",
        "Failed",
    ]
    assert "Train" not in visited
    assert output["error"]["Error"] == "DataStepDidNotComplete"


@pytest.mark.parametrize(
    "step", ["PrepareTrainingData", "Train", "CreateModel", "CreateEndpointConfig"]
)
def test_a_failed_step_notifies_and_fails(default: Definition, step: str) -> None:
    status, visited, output = run(default.json, _tasks(fail=step))
    assert status == "FAILED"
    assert visited[-3:] == ["RecordFailed", "NotifyFailure", "Failed"]
    assert output["error"] == {"Error": "States.TaskFailed", "Cause": f"{step} failed"}
    notify = default.params("NotifyFailure")
    assert default.ref(notify["TopicArn"]).startswith('{"Ref": "AlertsTopic')


def test_the_pipeline_logs_everything_traces_and_bounds_a_run(default: Definition) -> None:
    props = default.properties
    assert props["LoggingConfiguration"]["Level"] == "ALL"
    assert props["TracingConfiguration"] == {"Enabled": True}
    # Data step (1 h) + training with spot waiting (8 h) + an hour for the rest.
    assert default.json["TimeoutSeconds"] == 3600 + 8 * 3600 + 3600


# --------------------------------------------------------------------------- data step


def test_the_data_step_reads_curated_events_and_writes_the_runs_training_set(
    default: Definition, project: Synthesized
) -> None:
    params = default.params("PrepareTrainingData")
    assert default.states["PrepareTrainingData"]["Resource"].endswith(
        ":states:::sagemaker:createProcessingJob.sync"
    )
    assert params["ProcessingJobName.$"] == "$.run.name"
    app = params["AppSpecification"]
    assert "huggingface-pytorch-training:2.5.1-transformers4.49.0" in app["ImageUri"]
    [code, events] = params["ProcessingInputs"]
    key = _object_key(default, code["S3Input"]["S3Uri"])
    assert app["ContainerEntrypoint"] == ["python3", f"/opt/ml/processing/input/code/{key}"]
    assert _asset(project, "Ml", key).read_bytes() == DATA_SCRIPT.read_bytes()
    assert app["ContainerArguments"] == [
        "--input-dir",
        "/opt/ml/processing/input/events",
        "--output-dir",
        "/opt/ml/processing/output",
        "--text-column",
        "text",
        "--label-column",
        "label",
        "--split",
        "time",
        "--validation-fraction",
        "0.2",
    ]
    assert events["S3Input"]["LocalPath"] == "/opt/ml/processing/input/events"
    assert CURATED in default.ref(events["S3Input"]["S3Uri"])
    assert default.ref(events["S3Input"]["S3Uri"]).endswith("}}/events/")
    output = params["ProcessingOutputConfig"]
    [out] = output["Outputs"]
    assert out["S3Output"]["LocalPath"] == "/opt/ml/processing/output"
    uri = default.ref(out["S3Output"]["S3Uri.$"])
    assert CURATED in uri and uri.endswith("}}/training/{}/', $.run.name)")
    assert LAKE_KEY in default.ref(output["KmsKeyId"])
    cluster = params["ProcessingResources"]["ClusterConfig"]
    assert (cluster["InstanceType"], cluster["InstanceCount"], cluster["VolumeSizeInGB"]) == (
        "ml.m5.xlarge",
        1,
        30,
    )
    assert LAKE_KEY in default.ref(cluster["VolumeKmsKeyId"])
    network = params["NetworkConfig"]
    assert network["EnableNetworkIsolation"] is True
    assert network["EnableInterContainerTrafficEncryption"] is True

    def vpc(config: dict[str, list[str]]) -> dict[str, list[str]]:
        return {key: [default.ref(value) for value in values] for key, values in config.items()}

    assert vpc(network["VpcConfig"]) == vpc(default.params("Train")["VpcConfig"])
    assert params["StoppingCondition"] == {"MaxRuntimeInSeconds": 3600}


def test_the_data_step_options_reach_the_job(by_entity: Definition) -> None:
    params = by_entity.params("PrepareTrainingData")
    arguments = params["AppSpecification"]["ContainerArguments"]
    assert arguments[4:] == [
        "--text-column",
        "body",
        "--label-column",
        "stars",
        "--split",
        "entity",
        "--validation-fraction",
        "0.1",
        "--entity-column",
        "user_id",
    ]
    assert by_entity.ref(params["ProcessingInputs"][1]["S3Input"]["S3Uri"]).endswith(
        '"}/events/reviews/'
    )
    cluster = params["ProcessingResources"]["ClusterConfig"]
    assert (cluster["InstanceType"], cluster["VolumeSizeInGB"]) == ("ml.c6i.2xlarge", 200)
    assert params["StoppingCondition"] == {"MaxRuntimeInSeconds": 7200}


# ---------------------------------------------------------------------------- training


def test_training_uses_spot_checkpoints_isolation_and_encryption(default: Definition) -> None:
    train = default.states["Train"]
    assert train["Resource"].endswith(":states:::sagemaker:createTrainingJob.sync")
    params = train["Parameters"]
    assert params["EnableManagedSpotTraining"] is True
    assert params["StoppingCondition"] == {
        "MaxRuntimeInSeconds": 4 * 3600,
        "MaxWaitTimeInSeconds": 8 * 3600,
    }
    checkpoints = default.ref(params["CheckpointConfig"]["S3Uri.$"])
    assert ANALYTICS in checkpoints and checkpoints.endswith("}}/checkpoints/{}/', $.run.name)")
    assert params["EnableNetworkIsolation"] is True
    assert params["EnableInterContainerTrafficEncryption"] is True
    assert params["ResourceConfig"] == {
        "InstanceType": "ml.g5.2xlarge",
        "InstanceCount": 1,
        "VolumeSizeInGB": 100,
    }  # g5: hardware-encrypted local NVMe, SageMaker refuses a volume key
    output = params["OutputDataConfig"]
    assert ANALYTICS in default.ref(output["S3OutputPath"])
    assert default.ref(output["S3OutputPath"]).endswith("}}/models/")
    assert LAKE_KEY in default.ref(output["KmsKeyId"])
    assert set(params["VpcConfig"]) == {"SecurityGroupIds", "Subnets"}
    algorithm = params["AlgorithmSpecification"]
    assert "huggingface-pytorch-training:2.5.1-transformers4.49.0" in algorithm["TrainingImage"]


def test_the_job_runs_the_bundled_script_from_its_source_archive(
    default: Definition, project: Synthesized
) -> None:
    """SageMaker's script mode under network isolation, as the SageMaker Python SDK sets it
    up: the archive is the ``code`` channel, ``sagemaker_submit_directory`` its copy."""
    params = default.params("Train")
    channels = {
        c["ChannelName"]: c["DataSource"]["S3DataSource"] for c in params["InputDataConfig"]
    }
    key = _object_key(default, channels["code"]["S3Uri"])
    hyperparameters = {k: default.ref(v) for k, v in params["HyperParameters"].items()}
    assert hyperparameters == {
        **PIPELINE_HYPERPARAMETERS,
        "sagemaker_submit_directory": json.dumps(f"/opt/ml/input/data/code/{key}"),
        "sagemaker_region": '"{"Ref": "AWS::Region"}"',
    }
    archive = _asset(project, "Ml", key).read_bytes()
    assert archive == archive_bytes(BUNDLED_SOURCE_DIR)
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        assert sorted(tar.getnames()) == ["__init__.py", "train.py"]
        script = tar.extractfile("train.py")
        assert script is not None
        assert script.read() == (BUNDLED_SOURCE_DIR / "train.py").read_bytes()


def test_the_channels_are_the_runs_data_the_code_and_the_pretrained_model(
    default: Definition,
) -> None:
    params = default.params("Train")
    channels = {
        c["ChannelName"]: c["DataSource"]["S3DataSource"] for c in params["InputDataConfig"]
    }
    assert list(channels) == ["train", "validation", "code", "pretrained"]
    for name in ("train", "validation"):
        uri = default.ref(channels[name]["S3Uri.$"])
        assert CURATED in uri and uri.endswith(f"}}}}/training/{{}}/{name}/', $.run.name)")
    pretrained = default.ref(channels["pretrained"]["S3Uri"])
    assert ANALYTICS in pretrained
    assert pretrained.endswith("}}/pretrained/distilbert/distilbert-base-uncased/")
    assert all(c["S3DataType"] == "S3Prefix" for c in channels.values())


def test_the_job_captures_the_scripts_metrics(default: Definition) -> None:
    algorithm = default.params("Train")["AlgorithmSpecification"]
    assert algorithm["MetricDefinitions"] == [
        {"Name": name, "Regex": regex} for name, regex in METRIC_DEFINITIONS.items()
    ]


def test_the_model_is_served_by_the_hugging_face_container_without_custom_code(
    default: Definition,
) -> None:
    model = default.params("CreateModel")
    container = model["PrimaryContainer"]
    assert "huggingface-pytorch-inference:" in container["Image"]
    assert container["Environment"] == {"HF_TASK": "text-classification"}
    assert container["ModelDataUrl.$"] == "$.training.ModelArtifacts"
    assert model["EnableNetworkIsolation"] is True
    config = default.params("CreateEndpointConfig")
    assert config["ProductionVariants"][0]["InstanceType"] == "ml.g5.xlarge"
    capture = config["DataCaptureConfig"]
    assert capture["EnableCapture"] is True
    assert LAKE_KEY in default.ref(capture["KmsKeyId"])


def test_your_own_code_and_data(own_code: Definition, construct_variants: Synthesized) -> None:
    states = own_code.states
    assert "PrepareTrainingData" not in states
    assert states["NameTheRun"]["Next"] == "Train"
    params = own_code.params("Train")
    channels = {
        c["ChannelName"]: c["DataSource"]["S3DataSource"] for c in params["InputDataConfig"]
    }
    assert list(channels) == ["train", "validation", "code"]  # no pre-trained model channel
    for name in ("train", "validation"):
        assert own_code.ref(channels[name]["S3Uri"]).endswith(f"}}/datasets/reviews/{name}/")
    key = _object_key(own_code, channels["code"]["S3Uri"])
    assert {k: own_code.ref(v) for k, v in params["HyperParameters"].items()} == {
        "epochs": "1",
        "sagemaker_container_log_level": "20",
        "sagemaker_program": '"fit.py"',
        "sagemaker_submit_directory": json.dumps(f"/opt/ml/input/data/code/{key}"),
        "sagemaker_region": '"eu-west-1"',
    }
    with tarfile.open(_asset(construct_variants, "TrainingVariants", key), "r:gz") as tar:
        assert sorted(tar.getnames()) == sorted(OWN_TRAINING_CODE)
    algorithm = params["AlgorithmSpecification"]
    assert algorithm["TrainingImage"] == "111122223333.dkr.ecr.eu-west-1.amazonaws.com/fit:1"
    assert algorithm["MetricDefinitions"] == [{"Name": "valid:acc", "Regex": "acc=([0-9.]+)"}]
    assert "EnableManagedSpotTraining" not in params and "CheckpointConfig" not in params
    assert params["StoppingCondition"] == {"MaxRuntimeInSeconds": 3600}
    assert "VolumeKmsKeyId" in params["ResourceConfig"]  # p3 has EBS volumes
    assert "Environment" not in own_code.params("CreateModel")["PrimaryContainer"]
    assert own_code.json["TimeoutSeconds"] == 3600 + 3600
    assert own_code.pipeline.data_role is None and own_code.pipeline.data_script_asset is None


# ------------------------------------------------------------------------------- roles


def _statements(synth: Synthesized, stack_id: str, role: Any) -> dict[str, dict[str, Any]]:
    stack = synth.stack(stack_id)
    policy_id = stack.get_logical_id(role.grants_policy.node.default_child)
    document = synth.template_json(stack_id)["Resources"][policy_id]["Properties"]
    return {s.get("Sid", f"#{i}"): s for i, s in enumerate(document["PolicyDocument"]["Statement"])}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _ends(resource: Any) -> str:
    """The literal tail of a resource ARN built with Fn::Join."""
    return resource["Fn::Join"][1][-1] if isinstance(resource, dict) else resource


def test_the_training_role_reads_its_data_model_and_code_and_writes_only_its_outputs(
    default: Definition, project: Synthesized
) -> None:
    statements = _statements(project, "Ml", default.pipeline.training_role)
    reads = statements["ReadTrainingData"]
    assert reads["Action"] == "s3:GetObject"
    assert {_ends(r): "Curated" in json.dumps(r) for r in reads["Resource"]} == {
        "/training/*": True,
        "/pretrained/distilbert/distilbert-base-uncased/*": False,
    }
    writes = statements["WriteModelsCheckpointsAndCaptures"]
    assert {_ends(r) for r in writes["Resource"]} == {
        "/models/*",
        "/checkpoints/*",
        "/data-capture/*",
    }
    assert all("Analytics" in json.dumps(r) for r in writes["Resource"])
    code = statements["ReadTheCode"]
    assert code["Action"] == "s3:GetObject"
    key = _object_key(
        default,
        default.params("Train")["InputDataConfig"][2]["DataSource"]["S3DataSource"]["S3Uri"],
    )
    assert json.dumps(code["Resource"]).endswith(f'/{key}"]]}}')
    assert statements["UseTheLakeKey"]["Resource"]["Fn::GetStackOutput"]["OutputName"].startswith(
        "PublishOutputFnGetAttLakeKey"
    )
    actions = [a for s in statements.values() for a in _as_list(s["Action"])]
    assert not [a for a in actions if a.startswith("s3:Delete")]


def test_the_data_role_reads_events_and_writes_training_sets_only(
    default: Definition, project: Synthesized
) -> None:
    role = default.pipeline.data_role
    assert role is not None
    statements = _statements(project, "Ml", role)
    assert statements["ReadCuratedEvents"]["Action"] == "s3:GetObject"
    assert _ends(statements["ReadCuratedEvents"]["Resource"]) == "/events/*"
    writes = statements["WriteTrainingSets"]
    assert sorted(writes["Action"]) == ["s3:AbortMultipartUpload", "s3:PutObject"]
    assert _ends(writes["Resource"]) == "/training/*"
    assert "Curated" in json.dumps(writes["Resource"])
    actions = {a for s in statements.values() for a in _as_list(s["Action"])}
    assert "s3:DeleteObject" not in actions
    assert (
        "ReadTrainingData" not in statements
        and "WriteModelsCheckpointsAndCaptures" not in statements
    )
    [trust] = project.template_json("Ml")["Resources"][
        project.stack("Ml").get_logical_id(role.node.default_child)
    ]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "sagemaker.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}


def test_the_state_machine_runs_only_its_own_jobs_and_passes_only_its_roles(
    default: Definition, own_code: Definition, project: Synthesized, construct_variants: Synthesized
) -> None:
    statements = _statements(project, "Ml", default.pipeline.role)
    run_jobs = statements["RunJobs"]
    assert set(run_jobs["Action"]) == {
        "sagemaker:CreateTrainingJob",
        "sagemaker:DescribeTrainingJob",
        "sagemaker:StopTrainingJob",
        "sagemaker:AddTags",
        "sagemaker:CreateProcessingJob",
        "sagemaker:DescribeProcessingJob",
        "sagemaker:StopProcessingJob",
    }
    assert {_ends(r) for r in run_jobs["Resource"]} == {
        ":training-job/mlbp-*",
        ":processing-job/mlbp-*",
    }
    passed = statements["PassTheSageMakerRoles"]
    stack = project.stack("Ml")
    assert sorted(json.dumps(r) for r in passed["Resource"]) == sorted(
        json.dumps({"Fn::GetAtt": [stack.get_logical_id(r.node.default_child), "Arn"]})
        for r in (default.pipeline.training_role, default.pipeline.data_role)
    )
    assert passed["Condition"] == {
        "StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}
    }
    assert {_ends(r) for r in statements["WaitForJobs"]["Resource"]} == {
        ":rule/StepFunctionsGetEventsForSageMakerTrainingJobsRule",
        ":rule/StepFunctionsGetEventsForSageMakerProcessingJobsRule",
    }
    own = _statements(construct_variants, "TrainingVariants", own_code.pipeline.role)
    assert not [a for a in own["RunJobs"]["Action"] if "Processing" in a]
    assert len(own["PassTheSageMakerRoles"]["Resource"]) == 1


# -------------------------------------------------------------------------- the archive


def test_the_source_archive_is_reproducible_and_leaves_out_caches(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text("print(1)\n")
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "mod.py").write_text("X = 1\n")
    (tmp_path / "pkg" / "__pycache__").mkdir()
    (tmp_path / "pkg" / "__pycache__" / "mod.cpython-311.pyc").write_bytes(b"\0")
    (tmp_path / ".env").write_text("SECRET=1\n")
    (tmp_path / "run.sh").write_text("#!/bin/sh\n")
    (tmp_path / "run.sh").chmod(0o755)
    first = archive_bytes(tmp_path)
    (tmp_path / "train.py").touch()  # a new modification time changes nothing
    assert archive_bytes(tmp_path) == first
    with tarfile.open(fileobj=io.BytesIO(first), mode="r:gz") as tar:
        members = {m.name: m for m in tar.getmembers()}
    assert sorted(members) == ["pkg/mod.py", "run.sh", "train.py"]
    assert {(m.mtime, m.uid, m.uname) for m in members.values()} == {(0, 0, "")}
    assert (members["run.sh"].mode, members["train.py"].mode) == (0o755, 0o644)
    assert [p.name for p in source_files(tmp_path)] == ["mod.py", "run.sh", "train.py"]


# --------------------------------------------------------------------- botocore's limits


@pytest.fixture(scope="module")
def sagemaker_model() -> Any:
    return botocore.session.get_session().get_service_model("sagemaker")


def test_processing_instance_types_are_ones_sagemaker_accepts(sagemaker_model: Any) -> None:
    accepted = set(sagemaker_model.shape_for("ProcessingInstanceType").enum)
    assert accepted >= opts.PROCESSING_INSTANCE_TYPES
    assert "ml.m5.xlarge" in opts.PROCESSING_INSTANCE_TYPES


def test_the_limits_are_sagemakers(sagemaker_model: Any) -> None:
    def metadata(shape: str) -> dict[str, Any]:
        return sagemaker_model.shape_for(shape).metadata

    assert metadata("HyperParameters")["max"] == opts.MAX_HYPERPARAMETERS
    assert metadata("HyperParameterKey")["max"] == opts.MAX_HYPERPARAMETER_KEY
    assert metadata("HyperParameterValue")["max"] == opts.MAX_HYPERPARAMETER_VALUE
    assert metadata("MetricDefinitionList")["max"] == opts.MAX_METRIC_DEFINITIONS
    assert metadata("MetricName")["max"] == opts.MAX_METRIC_NAME
    assert metadata("MetricRegex")["max"] == opts.MAX_METRIC_REGEX
    assert metadata("ProcessingMaxRuntimeInSeconds")["max"] == opts.PROCESSING_MAX_RUNTIME[1]
    assert metadata("ProcessingVolumeSizeInGB")["max"] == 16384
    assert sagemaker_model.shape_for("HyperParameterValue").type_name == "string"


# ------------------------------------------------------------------------------ validation


@pytest.fixture(scope="module")
def parts() -> tuple[SecureDataLake, PrivateNetwork, AlertTopic]:
    """One lake for every validation test (each pipeline gets its own id): building a VPC
    and a lake per test costs more than the checks."""
    stack = cdk.Stack(cdk.App(), "Validation")
    network = PrivateNetwork(stack, "Network")
    lake = SecureDataLake(stack, "Lake", vpc_endpoint=network.s3_endpoint)
    return lake, network, AlertTopic(stack, "Alerts")


_ids = iter(range(1_000_000))


def _build(parts: Any, **props: Any) -> TrainingPipeline:
    lake, network, alerts = parts
    return TrainingPipeline(
        cdk.Stack.of(lake),
        f"Training{next(_ids)}",
        lake=lake,
        network=network,
        alerts=alerts,
        **props,
    )


def _with_requirements(tmp_path: Path) -> Path:
    (tmp_path / "train.py").write_text("")
    (tmp_path / "requirements.txt").write_text("torch\n")
    return tmp_path


@pytest.mark.parametrize(
    ("props", "expected"),
    [
        (
            {"training_instance_type": "ml.inf2.xlarge"},
            "training_instance_type='ml.inf2.xlarge': SageMaker does not accept inf2",
        ),
        ({"training_instance_type": "ml.c5.xlarge"}, "an accelerator is required"),
        (
            {"hosting_instance_type": "ml.p3dn.24xlarge"},
            "hosting_instance_type='ml.p3dn.24xlarge': SageMaker does not accept p3dn",
        ),
        (
            {"hosting_instance_type": "ml.inf2.xlarge"},
            "hosting_instance_type='ml.inf2.xlarge': Inferentia serves only models compiled "
            "for AWS Neuron, and this pipeline registers the model as trained",
        ),
        ({"hosting_instance_type": "ml.inf1.xlarge"}, "no Neuron compilation step"),
        (
            {"max_runtime_seconds": 7200, "max_wait_seconds": 3600},
            "max_wait_seconds=3600: at least max_runtime_seconds (7200)",
        ),
        ({"use_spot": False, "max_wait_seconds": 3600}, "max_wait_seconds=3600: unset unless"),
        ({"max_runtime_seconds": 30}, "max_runtime_seconds=30"),
        ({"training_instance_count": 0}, "training_instance_count=0: 1 to 100"),
        (
            {"training_instance_count": 2},
            "training_instance_count=2: 1 for the bundled script unless hyperparameters turn "
            "on distributed training",
        ),
        ({"input_prefix": "training"}, "input_prefix='training'"),
        ({"output_zone": "gold"}, "output_zone='gold'"),
        (
            {"hyperparameters": {"epochs": 3}},
            "hyperparameters['epochs']=3: a string",
        ),
        (
            {"hyperparameters": {"fp16": True}},
            "hyperparameters['fp16']=True: a string",
        ),
        ({"hyperparameters": {"lr": 2e-05}}, "hyperparameters['lr']=2e-05: a string"),
        ({"hyperparameters": {"tags": ["a"]}}, "hyperparameters['tags']=['a']: a string"),
        ({"hyperparameters": {3: "x"}}, "hyperparameters key 3=3: a string"),
        ({"hyperparameters": {"": "x"}}, "hyperparameters='': keys are strings of 1 to 256"),
        ({"hyperparameters": {"k" * 257: "x"}}, "keys are strings of 1 to 256"),
        (
            {"hyperparameters": {"note": "x" * 2501}},
            "hyperparameters['note']='xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx... (2501 "
            "characters)': at most 2500 characters",
        ),
        (
            {"hyperparameters": {"sagemaker_program": '"other.py"'}},
            "hyperparameters['sagemaker_program']='\"other.py\"': set by the pipeline",
        ),
        (
            {"hyperparameters": {"epochs.$": "$.epochs"}},
            "hyperparameters['epochs.$']='$.epochs': a key ending in '.$' makes Step Functions",
        ),
        (
            {"hyperparameters": {f"k{i}": "1" for i in range(93)}},
            "hyperparameters='93 entries': at most 92 (SageMaker's limit of 100, less the 8 "
            "the pipeline sets)",
        ),
        ({"hyperparameters": ["epochs=3"]}, "hyperparameters=['epochs=3']: a mapping"),
        (
            {"hyperparameters": {"model_id": "gpt2"}},
            "hyperparameters['model_id']='gpt2': set by the pipeline from base_model_id",
        ),
        (
            {"metric_definitions": {"f1": "f1=[0-9.]+"}},
            "metric_definitions['f1']='f1=[0-9.]+': a regular expression whose first group",
        ),
        ({"metric_definitions": {"f1": "f1=([0-9.]+"}}, "a valid regular expression"),
        (
            {"training_instance_type": "ml.trn1.32xlarge", "training_image": HF_CUDA_TRAINING},
            "training_image='763104351884.dkr.ecr.{region}.amazonaws.com/huggingface-pytorch-"
            "training:2.5.1-transformers4.49.0-gpu-py311-cu124-ubuntu22.04': an image built for "
            "AWS Trainium",
        ),
        (
            {"training_instance_type": "ml.g5.2xlarge", "training_image": NEURONX_TRAINING},
            "training_image='763104351884.dkr.ecr.{region}.amazonaws.com/huggingface-pytorch-"
            "training-neuronx:",
        ),
        ({"metric_definitions": {"f1": ""}}, "a regular expression of 1 to 500 characters"),
        ({"metric_definitions": {"": "f1=(.*)"}}, "metric names are strings of 1 to 255"),
        (
            {"metric_definitions": {f"m{i}": "=(.*)" for i in range(41)}},
            "metric_definitions='41 definitions': at most 40",
        ),
        (
            {"base_model_id": None},
            "base_model_id=None: a model id: the bundled script fine-tunes the model staged",
        ),
        ({"base_model_id": "https://huggingface.co/x"}, "base_model_id='https://huggingface.co/x'"),
        ({"source_dir": "/nonexistent/code"}, "source_dir='/nonexistent/code': an existing"),
        ({"entry_point": "missing.py"}, "entry_point='missing.py': a .py or .sh file in"),
        ({"entry_point": "__init__.py/../train.py"}, "entry_point='__init__.py/../train.py'"),
        ({"training_data": "events/"}, "training_data='events/': a TrainingDataStep, or None"),
        (
            {"training_data": TrainingDataStep(source_prefix="training/raw/")},
            "training_data.source_prefix='training/raw/': a prefix apart from input_prefix",
        ),
        (
            {"training_data": TrainingDataStep(split="random")},
            "training_data.split='random': 'time' (the newest events validate) or 'entity'",
        ),
        (
            {"training_data": TrainingDataStep(split="entity")},
            "training_data.entity_column=None: the column that groups events",
        ),
        (
            {"training_data": TrainingDataStep(entity_column="user_id")},
            "training_data.entity_column='user_id': unset unless split='entity'",
        ),
        (
            {"training_data": TrainingDataStep(validation_fraction=0.9)},
            "training_data.validation_fraction=0.9: 0.01 to 0.5",
        ),
        (
            {"training_data": TrainingDataStep(text_column="1text")},
            "training_data.text_column='1text': a column name",
        ),
        (
            {"training_data": TrainingDataStep(instance_type="ml.g5.xlarge")},
            "training_data.instance_type='ml.g5.xlarge': a CPU Processing instance type",
        ),
        (
            {"training_data": TrainingDataStep(volume_size_gib=0)},
            "training_data.volume_size_gib=0: 1 to 16384 GiB",
        ),
        (
            {"training_data": TrainingDataStep(max_runtime_seconds=10**6)},
            "training_data.max_runtime_seconds=1000000: 1 to 777600 seconds",
        ),
        (
            {"training_data": TrainingDataStep(source_prefix="/events")},
            "training_data.source_prefix='/events': a key prefix ending in '/'",
        ),
    ],
)
def test_training_pipeline_validation(parts: Any, props: dict[str, Any], expected: str) -> None:
    with pytest.raises(ValueError, match=r"^TrainingPipeline: invalid prop") as error:
        _build(parts, **props)
    assert expected in str(error.value)


def test_a_requirements_file_is_refused(parts: Any, tmp_path: Path) -> None:
    with pytest.raises(ValueError) as error:
        _build(parts, source_dir=_with_requirements(tmp_path))
    assert (
        f"source_dir='{tmp_path}': no requirements.txt: the job runs with network isolation"
        in str(error.value)
    )


def test_every_bad_prop_is_named_in_one_error(parts: Any) -> None:
    with pytest.raises(ValueError) as error:
        _build(
            parts,
            hosting_instance_type="ml.inf2.xlarge",
            hyperparameters={"epochs": 3},
            training_data=TrainingDataStep(split="random"),
        )
    lines = str(error.value).splitlines()
    assert lines[0] == "TrainingPipeline: invalid props:"
    # Type problems first (the validation layer), then the construct's own checks.
    assert [line.split("=", 1)[0] for line in lines[1:]] == [
        "  - hyperparameters['epochs']",
        "  - hosting_instance_type",
        "  - training_data.split",
    ]


def test_several_instances_train_as_one_distributed_job(parts: Any, tmp_path: Path) -> None:
    distributed = _build(
        parts,
        training_instance_count=2,
        hyperparameters={"sagemaker_torch_distributed_enabled": "true"},
    )
    assert distributed.state_machine is not None
    (tmp_path / "train.py").write_text("")  # your own script decides for itself
    assert _build(parts, source_dir=tmp_path, training_instance_count=4).state_machine


def test_token_values_are_not_measured(parts: Any) -> None:
    pipeline = _build(parts, hyperparameters={"run_by": cdk.Aws.ACCOUNT_ID})
    assert pipeline.state_machine is not None


def test_a_synthesizer_that_names_assets_at_deploy_time_is_refused(parts: Any) -> None:
    lake, network, alerts = parts
    app = cdk.Stack.of(lake).node.scope
    stack = cdk.Stack(app, "Legacy", synthesizer=cdk.LegacyStackSynthesizer())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="names file assets only at deploy time"):
        TrainingPipeline(stack, "Training", lake=lake, network=network, alerts=alerts)


def test_the_readmes_own_model_and_data_example_builds(parts: Any) -> None:
    """The README's "your own model, data and script" example, with a scope and a lake."""
    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text()
    section = readme.split("### The ML layer", 1)[1].split("\n## ", 1)[0]
    [example] = [
        block
        for block in re.findall(r"```python\n(.*?)```", section, re.DOTALL)
        if "TrainingPipeline(" in block
    ]
    lake, network, alerts = parts
    stack = cdk.Stack.of(lake)
    namespace = {"self": stack, "lake": lake, "network": network, "alerts": alerts}
    exec(compile(example, "README.md", "exec"), namespace)
    pipeline = stack.node.find_child("Training")
    assert isinstance(pipeline, TrainingPipeline)
    assert pipeline.pretrained_prefix == "pretrained/google-bert/bert-base-uncased/"
