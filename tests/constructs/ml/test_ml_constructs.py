"""The ML layer's constructs: GPU notebook and inference endpoint (the training pipeline
has its own module)."""

from __future__ import annotations

import base64
import json
from typing import Any

import aws_cdk as cdk
import pytest

from ml_blueprints.constructs import AlertTopic, PrivateNetwork, SecureDataLake
from ml_blueprints.constructs.ml.accelerated_instances import Use
from ml_blueprints.constructs.ml.gpu_notebook import GpuNotebook
from ml_blueprints.constructs.ml.images import (
    HUGGING_FACE_INFERENCE_IMAGE,
    HUGGING_FACE_TRAINING_IMAGE,
    ImageKind,
    default_image,
    image_kind,
    image_problem,
)
from ml_blueprints.constructs.ml.sagemaker_endpoint import SageMakerEndpoint
from tests.conftest import MODEL_DATA_URL, Synthesized
from tests.constructs.scopes import fresh_scope

HF_CUDA_INFERENCE = HUGGING_FACE_INFERENCE_IMAGE
HF_CUDA_TRAINING = HUGGING_FACE_TRAINING_IMAGE


def _one(synth: Synthesized, resource_type: str) -> dict[str, Any]:
    [resource] = synth.resources("Ml", resource_type).values()
    return resource["Properties"]


# -------------------------------------------------------------------------------- notebook


def test_notebook_is_private_encrypted_and_without_root(sandbox_project: Synthesized) -> None:
    notebook = _one(sandbox_project, "AWS::SageMaker::NotebookInstance")
    assert notebook["InstanceType"] == "ml.g4dn.xlarge"
    assert notebook["DirectInternetAccess"] == "Disabled"
    assert notebook["RootAccess"] == "Disabled"
    assert "LakeKey" in json.dumps(notebook["KmsKeyId"])
    assert "SubnetId" in notebook and notebook["SecurityGroupIds"]
    assert notebook["NotebookInstanceName"] == "mlbp-sbx-gpu"
    [group] = [
        g["Properties"]
        for k, g in sandbox_project.resources("Ml", "AWS::EC2::SecurityGroup").items()
        if k.startswith("Notebook")
    ]
    assert "SecurityGroupIngress" not in group
    assert [(e["IpProtocol"], e["FromPort"]) for e in group["SecurityGroupEgress"]] == [
        ("tcp", 443)
    ]


def test_notebook_stops_itself_after_an_idle_hour(sandbox_project: Synthesized) -> None:
    lifecycle = _one(sandbox_project, "AWS::SageMaker::NotebookInstanceLifecycleConfig")
    script = base64.b64decode(lifecycle["OnStart"][0]["Content"]).decode()
    assert "idle_check.py 3600" in script and "crontab" in script
    assert "stop-notebook-instance" in script
    compile(script.split("<<'PY'\n", 1)[1].split("\nPY\n", 1)[0], "idle_check.py", "exec")
    notebook = _one(sandbox_project, "AWS::SageMaker::NotebookInstance")
    assert "LifecycleConfigName" in notebook
    datalake_endpoints = sandbox_project.resources("DataLake", "AWS::EC2::VPCEndpoint").values()
    names = json.dumps([e["Properties"]["ServiceName"] for e in datalake_endpoints])
    assert ".sagemaker.api" in names  # how the stop call reaches SageMaker


def test_the_idle_check_stops_only_an_idle_notebook(tmp_path: Any, monkeypatch: Any) -> None:
    """Runs the lifecycle's idle check against a fake Jupyter API and a fake aws CLI."""
    from ml_blueprints.constructs.ml import gpu_notebook

    calls: list[list[str]] = []
    sessions: list[dict[str, Any]] = []

    class Response:
        def __enter__(self) -> Response:
            return self

        def __exit__(self, *args: object) -> None:
            return None

        def read(self) -> bytes:
            return json.dumps(sessions).encode()

    namespace: dict[str, Any] = {}
    code = gpu_notebook.IDLE_CHECK.replace(
        'json.load(open("/opt/ml/metadata/resource-metadata.json"))', '{"ResourceName": "nb"}'
    )
    monkeypatch.setattr("urllib.request.urlopen", lambda *a, **k: Response())
    monkeypatch.setattr("subprocess.run", lambda args, check: calls.append(args))

    def check(idle: int) -> None:
        monkeypatch.setattr("sys.argv", ["idle_check.py", str(idle)])
        exec(compile(code, "idle_check.py", "exec"), dict(namespace))

    sessions[:] = [{"kernel": {"execution_state": "busy"}}]
    check(60)
    assert calls == []
    sessions[:] = [
        {"kernel": {"execution_state": "idle", "last_activity": "2020-01-01T00:00:00.000000Z"}}
    ]
    check(60)
    assert calls == [
        ["aws", "sagemaker", "stop-notebook-instance", "--notebook-instance-name", "nb"]
    ]


# -------------------------------------------------------------------------------- endpoint


def test_endpoint_serves_the_model_with_capture_and_autoscaling(
    sandbox_project: Synthesized,
) -> None:
    model = _one(sandbox_project, "AWS::SageMaker::Model")
    assert model["PrimaryContainer"]["ModelDataUrl"] == MODEL_DATA_URL
    assert model["EnableNetworkIsolation"] is True
    config = _one(sandbox_project, "AWS::SageMaker::EndpointConfig")
    assert "KmsKeyId" not in config  # g5: local NVMe, refused by SageMaker
    capture = config["DataCaptureConfig"]
    assert (capture["EnableCapture"], capture["InitialSamplingPercentage"]) == (True, 20)
    assert json.dumps(capture["DestinationS3Uri"]).endswith('"/data-capture/"]]}')
    target = _one(sandbox_project, "AWS::ApplicationAutoScaling::ScalableTarget")
    assert (target["MinCapacity"], target["MaxCapacity"]) == (1, 2)
    assert target["ResourceId"] == "endpoint/mlbp-sbx-inference/variant/AllTraffic"
    policy = _one(sandbox_project, "AWS::ApplicationAutoScaling::ScalingPolicy")
    tracking = policy["TargetTrackingScalingPolicyConfiguration"]
    assert tracking["TargetValue"] == 100
    assert tracking["PredefinedMetricSpecification"]["PredefinedMetricType"] == (
        "SageMakerVariantInvocationsPerInstance"
    )


def test_an_inferentia_endpoint_gets_a_neuron_image_and_is_kms_encrypted() -> None:
    stack = cdk.Stack(cdk.App(), "Inf2", env=cdk.Environment(region="eu-west-1"))
    network = PrivateNetwork(stack, "Network")
    lake = SecureDataLake(stack, "Lake", vpc_endpoint=network.s3_endpoint)
    endpoint = SageMakerEndpoint(
        stack,
        "Endpoint",
        lake=lake,
        network=network,
        instance_type="ml.inf2.xlarge",
        model_data_url=MODEL_DATA_URL,
    )
    assert endpoint.endpoint_config.kms_key_id is not None
    assert endpoint.image == (
        "763104351884.dkr.ecr.eu-west-1.amazonaws.com/huggingface-pytorch-inference-neuronx:"
        "2.8.0-transformers4.55.4-neuronx-py310-sdk2.26.0-ubuntu22.04"
    )
    container = stack.resolve(endpoint.model.primary_container)
    assert container["image"] == endpoint.image


@pytest.mark.parametrize(
    ("instance_type", "use", "repository"),
    [
        ("ml.g5.xlarge", Use.HOSTING, "huggingface-pytorch-inference:2.6.0-"),
        ("ml.p4d.24xlarge", Use.TRAINING, "huggingface-pytorch-training:2.5.1-"),
        ("ml.inf2.xlarge", Use.HOSTING, "huggingface-pytorch-inference-neuronx:2.8.0-"),
        ("ml.trn1.2xlarge", Use.HOSTING, "huggingface-pytorch-inference-neuronx:2.8.0-"),
        ("ml.trn1.32xlarge", Use.TRAINING, "huggingface-pytorch-training-neuronx:2.8.0-"),
        ("ml.inf1.xlarge", Use.HOSTING, "pytorch-inference-neuron:1.13.1-neuron-"),
    ],
)
def test_the_default_image_fits_the_accelerator(
    instance_type: str, use: Use, repository: str
) -> None:
    image = default_image(instance_type, use, "us-east-1")
    assert image.startswith(f"763104351884.dkr.ecr.us-east-1.amazonaws.com/{repository}")
    assert image_problem(image, instance_type) is None


@pytest.mark.parametrize(
    ("image", "kind"),
    [
        (HUGGING_FACE_INFERENCE_IMAGE, ImageKind.CUDA),
        ("123456789012.dkr.ecr.eu-west-1.amazonaws.com/tgi:2.4.0-gpu-py311-cu124", ImageKind.CUDA),
        ("763104351884.dkr.ecr.r.amazonaws.com/pytorch-inference:2.3.0-cpu-py311", ImageKind.CPU),
        ("x/huggingface-pytorch-inference-neuronx:2.1.2-neuronx-py310", ImageKind.NEURONX),
        ("x/pytorch-inference-neuron:1.13.1-neuron-py310-sdk2.20.2", ImageKind.NEURON),
        ("123456789012.dkr.ecr.eu-west-1.amazonaws.com/acme/model:1", ImageKind.UNKNOWN),
    ],
)
def test_the_image_kind_is_read_from_its_name(image: str, kind: ImageKind) -> None:
    assert image_kind(image) is kind


# ------------------------------------------------------------------------------ validation


@pytest.fixture(scope="module")
def parts() -> tuple[SecureDataLake, PrivateNetwork, AlertTopic]:
    """Shared by the validation tests below (see tests/constructs/scopes.py)."""
    stack = cdk.Stack(cdk.App(), "Validation")
    network = PrivateNetwork(stack, "Network")
    lake = SecureDataLake(stack, "Lake", vpc_endpoint=network.s3_endpoint)
    return lake, network, AlertTopic(stack, "Alerts")


@pytest.mark.parametrize(
    ("props", "expected"),
    [
        ({"instance_type": "ml.m5.xlarge"}, "instance_type='ml.m5.xlarge': an accelerator is"),
        ({"instance_type": "g5.xlarge"}, "not a SageMaker instance type name"),
        ({"idle_stop_minutes": 5}, "idle_stop_minutes=5: 15 to 1440 minutes"),
        ({"idle_stop_minutes": 2000}, "idle_stop_minutes=2000"),
        ({"readable_zones": ["gold"]}, "readable_zones='gold'"),
        ({"volume_size_gib": 1}, "volume_size_gib=1: 5 to 16384 GiB"),
    ],
)
def test_notebook_validation(parts: Any, props: dict[str, Any], expected: str) -> None:
    lake, network, _ = parts
    with pytest.raises(ValueError, match=r"^GpuNotebook: invalid prop") as error:
        GpuNotebook(fresh_scope(lake), "Notebook", lake=lake, network=network, **props)
    assert expected in str(error.value)


@pytest.mark.parametrize(
    ("props", "expected"),
    [
        ({"min_instances": 3, "max_instances": 2}, "min_instances=3: at most max_instances (2)"),
        ({"min_instances": 0}, "min_instances=0: at least 1"),
        ({"instance_type": "ml.p3dn.24xlarge"}, "SageMaker does not accept p3dn"),
        ({"model_data_url": "https://x/model.tar.gz"}, "model_data_url='https://x/model.tar.gz'"),
        ({"capture_percentage": 101}, "capture_percentage=101: 0 to 100"),
        (
            {"instance_type": "ml.inf2.xlarge", "image": HUGGING_FACE_INFERENCE_IMAGE},
            f"image={HUGGING_FACE_INFERENCE_IMAGE!r}: an image built for AWS Inferentia2 (Neuron "
            "for Inferentia2 and Trainium (torch-neuronx)); this one is built for CUDA (NVIDIA "
            "GPU), so it would find no accelerator on ml.inf2.xlarge. Use e.g. "
            "763104351884.dkr.ecr.<region>.amazonaws.com/huggingface-pytorch-inference-neuronx:",
        ),
        (
            {"instance_type": "ml.trn1.2xlarge", "image": "acme/llm:1.0-cu121"},
            "image='acme/llm:1.0-cu121': an image built for AWS Trainium",
        ),
        (
            {"instance_type": "ml.inf1.xlarge", "image": "x/inference-neuronx:2.1-neuronx"},
            "built for Neuron for Inferentia2 and Trainium (torch-neuronx), so it would find",
        ),
        (
            {"instance_type": "ml.g5.xlarge", "image": "x/pytorch-inference-neuronx:2.1"},
            "image='x/pytorch-inference-neuronx:2.1': an image built for NVIDIA A10G (CUDA",
        ),
        ({"endpoint_name": "my_endpoint"}, "endpoint_name='my_endpoint': 1-63 letters, digits"),
        ({"endpoint_name": "e" * 64}, "endpoint_name='eeee"),
        ({"endpoint_name": "-leading"}, "endpoint_name='-leading'"),
    ],
)
def test_endpoint_validation(parts: Any, props: dict[str, Any], expected: str) -> None:
    lake, network, _ = parts
    props = {
        "image": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/model:1",
        "model_data_url": MODEL_DATA_URL,
        **props,
    }
    with pytest.raises(ValueError, match=r"^SageMakerEndpoint: invalid prop") as error:
        SageMakerEndpoint(fresh_scope(lake), "Endpoint", lake=lake, network=network, **props)
    assert expected in str(error.value)
