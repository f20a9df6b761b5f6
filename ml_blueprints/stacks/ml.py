"""MlStack: the course notes' modelling layer: SageMaker on accelerated instances."""

from __future__ import annotations

import aws_cdk as cdk
from constructs import Construct

from ml_blueprints.config import Settings
from ml_blueprints.constructs import GpuNotebook, SageMakerEndpoint
from ml_blueprints.constructs.ml.training_pipeline import (
    HUGGING_FACE_INFERENCE_IMAGE,
    TrainingPipeline,
)
from ml_blueprints.stacks.data_lake import DataLakeStack
from ml_blueprints.stacks.serving import ServingStack


class MlStack(cdk.Stack):
    """The training pipeline, and opt-in a GPU notebook and an inference endpoint.

    Always: the training state machine (costs nothing until run: each run prepares the
    training set from the curated events, fine-tunes the bundled script's model and
    registers it) and its alert topic. With ``serving`` (the app passes it), every run is
    recorded, success or failure, in the serving layer's results table, so this layer is
    deployed after that one.
    ``-c ml_notebook=true``: a GPU notebook that stops itself when idle (the data lake
    layer's network then gets the SageMaker API and STS interface endpoints it needs).
    ``-c ml_endpoint=true -c ml_model_data_url=s3://...``: a real-time endpoint serving
    that model (billed hourly).

    Outputs: the state machine ARN, where to stage the pre-trained model, the notebook name
    and the endpoint name when created.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        settings: Settings,
        data_lake: DataLakeStack,
        serving: ServingStack | None = None,
        **kwargs,
    ) -> None:
        kwargs.setdefault("stack_name", settings.stack_name("ml"))
        kwargs.setdefault("env", settings.environment)
        kwargs.setdefault("description", "ml-blueprints ML layer: SageMaker on GPU")
        super().__init__(scope, id, **kwargs)
        lake, network = data_lake.lake, data_lake.network
        self.alerts = data_lake.alert_topic(self, "Alerts")
        self.pipeline = TrainingPipeline(
            self,
            "Training",
            lake=lake,
            network=network,
            alerts=self.alerts,
            results=serving.results if serving is not None else None,
            log_retention_days=settings.log_retention_days,
            removal_policy=settings.removal_policy,
        )
        cdk.CfnOutput(
            self,
            "TrainingStateMachineArn",
            value=self.pipeline.state_machine.state_machine_arn,
            description="Step Functions: prepare the data, fine-tune, create the model and "
            "endpoint configuration",
        )
        assert self.pipeline.pretrained_model_uri is not None
        cdk.CfnOutput(
            self,
            "PretrainedModelUri",
            value=self.pipeline.pretrained_model_uri,
            description="Stage the pre-trained model here once (save_pretrained files): the "
            "training job has no internet access",
        )
        self.notebook: GpuNotebook | None = None
        if settings.ml_notebook:
            self.notebook = GpuNotebook(
                self,
                "Notebook",
                lake=lake,
                network=network,
                notebook_name=f"mlbp-{settings.env_name}-gpu",
            )
            cdk.CfnOutput(
                self,
                "NotebookName",
                value=self.notebook.notebook_name,
                description="GPU notebook instance (stops itself when idle)",
            )
        self.endpoint: SageMakerEndpoint | None = None
        if settings.ml_endpoint and settings.ml_model_data_url:
            self.endpoint = SageMakerEndpoint(
                self,
                "Endpoint",
                lake=lake,
                network=network,
                image=HUGGING_FACE_INFERENCE_IMAGE.format(region=self.region),
                model_data_url=settings.ml_model_data_url,
                endpoint_name=f"mlbp-{settings.env_name}-inference",
            )
            cdk.CfnOutput(
                self,
                "EndpointName",
                value=self.endpoint.endpoint_name,
                description="Real-time inference endpoint",
            )
