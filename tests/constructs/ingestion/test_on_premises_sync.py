"""OnPremisesSync: a scheduled DataSync task from the context's SMB share (or the variant's
NFS export) into the raw zone: verified, changed files only, deletions kept, logged to an
encrypted log group only DataSync may write, failures reported under the error prefix and
alerted; the password comes from Secrets Manager."""

from __future__ import annotations

from tests.conftest import Synthesized
from tests.constructs.ingestion.helpers import by_sid, one, role_statements, text

STACK = "Ingestion"
AGENT = "arn:aws:datasync:us-east-1:123456789012:agent/agent-0123456789abcdef0"


def test_the_task_is_verified_incremental_keeps_deletions_and_runs_daily(
    sandbox_project: Synthesized,
) -> None:
    _, task = one(sandbox_project, STACK, "AWS::DataSync::Task")
    props = task["Properties"]
    assert props["Name"] == "mlbp-sbx-files"
    assert props["Options"] == {
        "VerifyMode": "ONLY_FILES_TRANSFERRED",
        "TransferMode": "CHANGED",
        "OverwriteMode": "ALWAYS",
        "PreserveDeletedFiles": "PRESERVE",
        "LogLevel": "TRANSFER",
        "TaskQueueing": "ENABLED",
        "BytesPerSecond": -1,
    }
    assert props["Schedule"] == {"ScheduleExpression": "cron(0 2 * * ? *)", "Status": "ENABLED"}
    assert "FilesLogs" in text(props["CloudWatchLogGroupArn"])
    report = props["TaskReportConfig"]
    assert report["OutputType"] == "STANDARD" and report["ReportLevel"] == "ERRORS_ONLY"
    assert report["Destination"]["S3"]["Subdirectory"] == "errors/onprem/files/reports/"


def test_the_smb_source_reads_its_password_from_the_secret(sandbox_project: Synthesized) -> None:
    _, source = one(sandbox_project, STACK, "AWS::DataSync::LocationSMB")
    props = source["Properties"]
    assert props["AgentArns"] == [AGENT]
    assert props["ServerHostname"] == "files.corp.example.com"
    assert props["Subdirectory"] == "/share/sensors"
    assert (props["User"], props["Domain"]) == ("svc-datasync", "corp.example.com")
    assert props["MountOptions"] == {"Version": "SMB3"}  # encrypted in transit
    assert "Password" not in props
    secret = props["CustomSecretConfig"]
    assert secret["SecretArn"].endswith(":secret:files/smb-AbCdEf")
    [read] = role_statements(sandbox_project, STACK, "FilesSecretAccessRole")
    assert read["Resource"] == secret["SecretArn"]


def test_the_destination_role_writes_the_prefix_and_its_reports_only(
    sandbox_project: Synthesized,
) -> None:
    _, destination = one(sandbox_project, STACK, "AWS::DataSync::LocationS3")
    assert destination["Properties"]["Subdirectory"] == "/onprem/files/"
    _, role = one(sandbox_project, STACK, "AWS::IAM::Role", "FilesBucketAccessRole")
    assert role["Properties"]["RoleName"] == "mlbp-sbx-svc-datasync-files"
    [trust] = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "datasync.amazonaws.com"}
    assert set(trust["Condition"]) == {"StringEquals", "ArnLike"}
    statements = by_sid(role_statements(sandbox_project, STACK, "FilesBucketAccessRole"))
    resources = text(statements["WriteThePrefixAndItsReports"]["Resource"])
    assert resources.count("/onprem/files/*") == 2  # the prefix and errors/<prefix>/
    assert "/errors/onprem/files/*" in resources


def test_only_datasync_may_write_its_encrypted_log_and_failures_alert(
    sandbox_project: Synthesized,
) -> None:
    _, log = one(sandbox_project, STACK, "AWS::Logs::LogGroup", "FilesLogs")
    assert "LakeKey" in text(log["Properties"]["KmsKeyId"])
    _, policy = one(sandbox_project, STACK, "AWS::Logs::ResourcePolicy")
    document = "".join(
        p if isinstance(p, str) else "REF"
        for p in policy["Properties"]["PolicyDocument"]["Fn::Join"][1]
    )
    assert '"Principal":{"Service":"datasync.amazonaws.com"}' in document
    assert '"Action":["logs:CreateLogStream","logs:PutLogEvents"]' in document
    assert '"aws:SourceAccount"' in document
    _, rule = one(sandbox_project, STACK, "AWS::Events::Rule", "FilesFailedExecution")
    pattern = rule["Properties"]["EventPattern"]
    assert pattern["source"] == ["aws.datasync"]
    assert pattern["detail-type"] == ["DataSync Task Execution State Change"]
    assert pattern["detail"] == {"State": ["ERROR"]}
    assert "FilesTask" in text(pattern["resources"])
    [target] = rule["Properties"]["Targets"]
    assert "AlertsTopic" in text(target["Arn"])


def test_the_nfs_variant(construct_variants: Synthesized) -> None:
    stack = "IngestionVariants"
    _, source = one(construct_variants, stack, "AWS::DataSync::LocationNFS")
    props = source["Properties"]
    assert props["ServerHostname"] == "nas.corp.example.com"
    assert props["Subdirectory"] == "/exports/archive"
    assert props["MountOptions"] == {"Version": "NFS4_1"}
    assert props["OnPremConfig"] == {
        "AgentArns": ["arn:aws:datasync:eu-west-1:111122223333:agent/agent-0123456789abcdef0"]
    }
    _, task = one(construct_variants, stack, "AWS::DataSync::Task")
    options = task["Properties"]["Options"]
    assert options["VerifyMode"] == "POINT_IN_TIME_CONSISTENT"
    assert options["BytesPerSecond"] == 200 * 125_000
    assert task["Properties"]["Excludes"] == [
        {"FilterType": "SIMPLE_PATTERN", "Value": "*.tmp|/scratch"}
    ]
    assert task["Properties"]["Schedule"]["ScheduleExpression"] == "rate(12 hours)"
