"""Rules for Glue ML transforms (``AWS::Glue::MLTransform``); cdk-nag's Glue rules check
crawlers' and jobs' security configurations only."""

from __future__ import annotations

from ml_blueprints.rules.base import Properties, Rule, get_path, is_reference_or_nonempty

ML_TRANSFORM = "AWS::Glue::MLTransform"


def ml_transform_encrypted(properties: Properties) -> bool:
    """The transform's user data is SSE-KMS with a key, and its task runs use a security
    configuration (which encrypts their logs and S3 writes)."""
    encryption = properties.get("TransformEncryption")
    user_data = get_path(encryption, "MLUserDataEncryption")
    return (
        get_path(user_data, "MLUserDataEncryptionMode") == "SSE-KMS"
        and is_reference_or_nonempty(get_path(user_data, "KmsKeyId"))
        and is_reference_or_nonempty(get_path(encryption, "TaskRunSecurityConfigurationName"))
    )


RULES: tuple[Rule, ...] = (
    Rule(
        "GlueMLTransformEncrypted",
        ML_TRANSFORM,
        "The Glue ML transform does not encrypt its user data with KMS or its task runs "
        "with a security configuration.",
        "ML transforms keep labels and training data of their own; without SSE-KMS and a "
        "security configuration they are stored with service-owned keys and their task "
        "logs are unencrypted.",
        ml_transform_encrypted,
    ),
)
