"""Container images that fit the accelerator: CUDA for NVIDIA GPUs, Neuron for AWS chips.

A SageMaker container is built for one kind of accelerator. A CUDA image on Inferentia or
Trainium finds no GPU and the endpoint never becomes healthy; a Neuron image on a GPU finds
no Neuron device; Inferentia (inf1) runs the first Neuron SDK's ``torch-neuron`` images,
Inferentia2 and Trainium the ``torch-neuronx`` ones. :func:`image_problem` refuses such a
mismatch at synth time, from what the image's repository and tag say about it (AWS's Deep
Learning Containers name the accelerator: ``...-gpu-...-cu124-...``, ``...-neuronx-...``);
an image whose name says neither (your own repository) is trusted as given.

:func:`default_image` picks the Hugging Face / PyTorch Deep Learning Container that fits an
instance type, for the constructs' defaults.
"""

from __future__ import annotations

import enum
import re

from ml_blueprints.constructs.ml.accelerated_instances import CATALOG, AcceleratorKind, Use

#: AWS's account of the Deep Learning Containers (most regions).
DLC_ACCOUNT = "763104351884"
_DLC = DLC_ACCOUNT + ".dkr.ecr.{region}.amazonaws.com/"

#: Hugging Face PyTorch training on NVIDIA GPUs (CUDA 12.4).
HUGGING_FACE_TRAINING_IMAGE = (
    _DLC + "huggingface-pytorch-training:2.5.1-transformers4.49.0-gpu-py311-cu124-ubuntu22.04"
)
#: Hugging Face PyTorch inference on NVIDIA GPUs (CUDA 12.4).
HUGGING_FACE_INFERENCE_IMAGE = (
    _DLC + "huggingface-pytorch-inference:2.6.0-transformers4.51.3-gpu-py312-cu124-ubuntu22.04"
)
#: Hugging Face PyTorch training on Trainium (Neuron SDK 2.26, torch-neuronx).
HUGGING_FACE_NEURONX_TRAINING_IMAGE = (
    _DLC + "huggingface-pytorch-training-neuronx:"
    "2.8.0-transformers4.55.4-neuronx-py310-sdk2.26.0-ubuntu22.04"
)
#: Hugging Face PyTorch inference on Inferentia2 and Trainium (Neuron SDK 2.26).
HUGGING_FACE_NEURONX_INFERENCE_IMAGE = (
    _DLC + "huggingface-pytorch-inference-neuronx:"
    "2.8.0-transformers4.55.4-neuronx-py310-sdk2.26.0-ubuntu22.04"
)
#: PyTorch inference on Inferentia (inf1: torch-neuron, Neuron SDK 2.20.2).
PYTORCH_NEURON_INFERENCE_IMAGE = (
    _DLC + "pytorch-inference-neuron:1.13.1-neuron-py310-sdk2.20.2-ubuntu20.04"
)


class ImageKind(enum.Enum):
    """What a container image is built for, as its name tells."""

    CUDA = "CUDA (NVIDIA GPU)"
    NEURON = "Neuron for Inferentia (torch-neuron)"
    NEURONX = "Neuron for Inferentia2 and Trainium (torch-neuronx)"
    CPU = "CPU only"
    UNKNOWN = "not stated in its name"


_CUDA = re.compile(r"(^|[-_.:/])(gpu|cu\d{2,3}|cuda[\d.]*)([-_.]|$)")
_CPU = re.compile(r"(^|[-_.:/])cpu([-_.]|$)")


def image_kind(image: str) -> ImageKind:
    """What ``image`` (a registry path with a tag) is built for, from its repository and tag."""
    name = image.rsplit("/", 1)[-1].lower()
    if "neuronx" in name:
        return ImageKind.NEURONX
    if "neuron" in name:
        return ImageKind.NEURON
    if _CUDA.search(name):
        return ImageKind.CUDA
    if _CPU.search(name):
        return ImageKind.CPU
    return ImageKind.UNKNOWN


def needed_kind(instance_type: str) -> ImageKind:
    """The image kind an accelerated SageMaker ``instance_type`` runs."""
    spec = CATALOG[instance_type]
    if spec.accelerator is AcceleratorKind.NVIDIA_GPU:
        return ImageKind.CUDA
    return ImageKind.NEURON if spec.family == "inf1" else ImageKind.NEURONX


def image_problem(image: str, instance_type: str) -> str | None:
    """Why ``image`` cannot run on ``instance_type`` (a catalog type), or ``None``.

    Refused: an image whose name says it is built for another accelerator (CUDA on
    Inferentia or Trainium, Neuron on a GPU, torch-neuron on Inferentia2/Trainium or
    torch-neuronx on inf1) or for the CPU only. An image whose name says nothing is trusted.
    """
    if instance_type not in CATALOG:
        return None  # the instance type is refused on its own
    have, need = image_kind(image), needed_kind(instance_type)
    if have in (ImageKind.UNKNOWN, need):
        return None
    spec = CATALOG[instance_type]
    return (
        f"an image built for {spec.accelerator_model} ({need.value}); this one is built for "
        f"{have.value}, so it would find no accelerator on {instance_type}. Use e.g. "
        f"{default_image(instance_type, Use.HOSTING, '<region>')}, or leave the image unset"
    )


def default_image(instance_type: str, use: Use, region: str) -> str:
    """The Deep Learning Container a construct uses on ``instance_type`` for ``use``
    (training or hosting) in ``region`` when no image is given."""
    kind = needed_kind(instance_type) if instance_type in CATALOG else ImageKind.CUDA
    if use is Use.TRAINING:
        template = (
            HUGGING_FACE_NEURONX_TRAINING_IMAGE
            if kind is ImageKind.NEURONX
            else HUGGING_FACE_TRAINING_IMAGE
        )
    else:
        template = {
            ImageKind.NEURONX: HUGGING_FACE_NEURONX_INFERENCE_IMAGE,
            ImageKind.NEURON: PYTORCH_NEURON_INFERENCE_IMAGE,
        }.get(kind, HUGGING_FACE_INFERENCE_IMAGE)
    return template.format(region=region)


def repository_arn(image: str, partition: str) -> str:
    """The ECR repository ARN of ``image``; a pattern when the image is not an ECR path
    (the region may be a token in an environment-agnostic stack: taken as it stands)."""
    match = re.fullmatch(r"(\d{12})\.dkr\.ecr\.(.+?)\.amazonaws\.com[^/]*/([^:@]+).*", image)
    if match is None:
        return f"arn:{partition}:ecr:*:*:repository/*"
    account, region, repository = match.groups()
    return f"arn:{partition}:ecr:{region}:{account}:repository/{repository}"
