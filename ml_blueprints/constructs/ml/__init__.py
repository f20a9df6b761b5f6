"""The ML layer: SageMaker training, notebooks and endpoints on accelerated instances."""

from ml_blueprints.constructs.ml.accelerated_instances import (
    AcceleratedInstance,
    AcceleratorKind,
    Use,
)
from ml_blueprints.constructs.ml.gpu_notebook import GpuNotebook
from ml_blueprints.constructs.ml.images import ImageKind, default_image, image_kind
from ml_blueprints.constructs.ml.sagemaker_endpoint import SageMakerEndpoint
from ml_blueprints.constructs.ml.training_pipeline import TrainingDataStep, TrainingPipeline

__all__ = [
    "AcceleratedInstance",
    "AcceleratorKind",
    "GpuNotebook",
    "ImageKind",
    "SageMakerEndpoint",
    "TrainingDataStep",
    "TrainingPipeline",
    "Use",
    "default_image",
    "image_kind",
]
