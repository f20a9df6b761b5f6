"""Rules for AWS DataSync tasks (``AWS::DataSync::Task``) and SMB locations
(``AWS::DataSync::LocationSMB``); cdk-nag 3.0.2 has none.

A transfer that is not verified can land corrupt files silently, one that does not log
leaves no record of what moved, one that mirrors deletions can empty the lake when the
share is emptied, and an SMB password in a template is readable by anyone who reads the
stack.
"""

from __future__ import annotations

from ml_blueprints.rules.base import Properties, Rule, get_path, is_reference_or_nonempty

TASK = "AWS::DataSync::Task"
SMB_LOCATION = "AWS::DataSync::LocationSMB"


def task_verified(properties: Properties) -> bool:
    """The task verifies what it transferred (VerifyMode is not NONE; absent means
    POINT_IN_TIME_CONSISTENT)."""
    return get_path(properties, "Options", "VerifyMode") != "NONE"


def task_logged(properties: Properties) -> bool:
    """The task logs to a CloudWatch log group, at a level other than OFF."""
    return (
        is_reference_or_nonempty(properties.get("CloudWatchLogGroupArn"))
        and get_path(properties, "Options", "LogLevel") != "OFF"
    )


def task_keeps_deleted_files(properties: Properties) -> bool:
    """Files deleted at the source are kept at the destination (PreserveDeletedFiles is
    not REMOVE)."""
    return get_path(properties, "Options", "PreserveDeletedFiles") != "REMOVE"


def smb_no_plaintext_password(properties: Properties) -> bool:
    """The SMB location's password is not in the template (a Secrets Manager secret is)."""
    return properties.get("Password") is None


RULES: tuple[Rule, ...] = (
    Rule(
        "DataSyncTaskVerified",
        TASK,
        "The DataSync task does not verify its transfers (VerifyMode NONE).",
        "Without verification a file corrupted in transfer lands in the lake unnoticed.",
        task_verified,
    ),
    Rule(
        "DataSyncTaskLogged",
        TASK,
        "The DataSync task has no log group, or logging is off.",
        "Without logs there is no record of which files moved, failed or were skipped.",
        task_logged,
    ),
    Rule(
        "DataSyncTaskKeepsDeletedFiles",
        TASK,
        "The DataSync task deletes from the destination what was deleted at the source.",
        "Mirroring deletions makes a mistake at the source (or an emptied share) a loss in "
        "the lake; keep deleted files and expire them with lifecycle rules instead.",
        task_keeps_deleted_files,
    ),
    Rule(
        "DataSyncSmbNoPlaintextPassword",
        SMB_LOCATION,
        "The DataSync SMB location has its password in the template.",
        "A password in a template is readable by anyone who can read the stack; give the "
        "location a Secrets Manager secret (CustomSecretConfig or CmkSecretConfig).",
        smb_no_plaintext_password,
    ),
)
