"""The smoke command end to end against moto's fake AWS.

The test stands in only for what moto cannot do: Firehose reading the stream (it runs the
real transform handler over the records moto's Kinesis holds and writes what Firehose would
deliver, GZIP JSON lines under the raw prefix and failures under the error prefix), a Glue
crawler finishing, and Athena's answer.
"""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from ml_blueprints import cli
from ml_blueprints.runtime import firehose_transform
from ml_blueprints.smoke import EMULATOR_GAPS, FAILED, PASSED, SKIPPED, Smoke, SmokeError

REGION = "eu-west-1"
BUCKET = "mlbp-dev-raw-test"
STREAM = "mlbp-dev-events"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[boto3.Session]:
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        yield boto3.Session(region_name=REGION)


def _stack(session: boto3.Session, name: str, outputs: dict[str, str]) -> None:
    template = {
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {key: {"Value": value} for key, value in outputs.items()},
    }
    session.client("cloudformation").create_stack(StackName=name, TemplateBody=json.dumps(template))


def _deploy_real_time(session: boto3.Session, outputs: dict[str, str] | None = None) -> None:
    session.client("s3").create_bucket(
        Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    session.client("kinesis").create_stream(StreamName=STREAM, ShardCount=1)
    _stack(
        session,
        "mlbp-dev-real-time",
        outputs
        if outputs is not None
        else {
            "StreamName": STREAM,
            "DeliveryStreamName": "mlbp-dev-delivery",
            "RawPrefix": f"s3://{BUCKET}/events/",
            "ErrorPrefix": f"s3://{BUCKET}/errors/events/",
        },
    )


class FakeFirehose:
    """Reads the stream and delivers like Firehose, through the real transform handler."""

    def __init__(self, session: boto3.Session, *, lose: int = 0) -> None:
        self.kinesis = session.client("kinesis")
        self.s3 = session.client("s3")
        self.lose = lose
        self.iterator: str | None = None
        self.batches = 0

    def __call__(self) -> None:
        if self.iterator is None:
            shard = self.kinesis.describe_stream(StreamName=STREAM)["StreamDescription"]["Shards"][
                0
            ]["ShardId"]
            self.iterator = self.kinesis.get_shard_iterator(
                StreamName=STREAM, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
            )["ShardIterator"]
        answer = self.kinesis.get_records(ShardIterator=self.iterator)
        self.iterator = answer["NextShardIterator"]
        records = answer["Records"]
        if not records:
            return
        event = {
            "records": [
                {
                    "recordId": str(i),
                    "approximateArrivalTimestamp": 1_764_000_000_000,
                    "data": base64.b64encode(r["Data"]).decode(),
                }
                for i, r in enumerate(records)
            ]
        }
        results = firehose_transform.handler(event, None)["records"]
        good = [base64.b64decode(r["data"]) for r in results if r["result"] == "Ok"]
        good = good[: len(good) - self.lose]
        failed = [
            json.dumps({"errorCode": "Lambda.ProcessingFailed", "rawData": r["data"]}).encode()
            for r in event["records"]
            if next(x for x in results if x["recordId"] == r["recordId"])["result"] != "Ok"
        ]
        self.batches += 1
        n = self.batches
        if good:
            self.s3.put_object(
                Bucket=BUCKET,
                Key=f"events/year=2026/month=11/day=24/hour=17/b{n}.gz",
                Body=gzip.compress(b"".join(good)),
            )
        if failed:
            self.s3.put_object(
                Bucket=BUCKET,
                Key=f"errors/events/processing-failed/year=2026/month=11/day=24/hour=17/e{n}",
                Body=b"\n".join(failed) + b"\n",
            )


def _smoke(
    session: boto3.Session, on_poll: Callable[[], None] | None = None, **kwargs: Any
) -> Smoke:
    kwargs.setdefault("timeout", 5)
    return Smoke(
        session,
        records=10,
        poll_seconds=1,
        on_poll=on_poll,
        sleep=lambda s: None,
        progress=lambda line: None,
        clock=_clock(),
        **kwargs,
    )


def _clock() -> Callable[[], float]:
    now = [0.0]

    def tick() -> float:
        now[0] += 0.5
        return now[0]

    return tick


def test_a_working_platform_passes_every_stage_and_cleans_up(aws: boto3.Session) -> None:
    _deploy_real_time(aws)
    # Another producer's record already delivered: the smoke test must leave it alone.
    aws.client("s3").put_object(
        Bucket=BUCKET,
        Key="events/year=2026/month=11/other.gz",
        Body=gzip.compress(b'{"event_id": "theirs"}\n'),
    )
    run = _smoke(aws, on_poll=FakeFirehose(aws)).execute()
    by_name = {s.name: s for s in run.stages}
    assert [s.name for s in run.stages] == [
        "credentials",
        "stack outputs",
        "write",
        "delivery",
        "error prefix",
        "crawl + query",
        "clean-up",
    ]
    assert all(s.status in (PASSED, SKIPPED) for s in run.stages)
    assert by_name["crawl + query"].status == SKIPPED  # no analytics stack deployed
    assert (run.good, run.bad) == (8, 2)
    assert "8 of 8 good records" in by_name["delivery"].detail
    assert "2 of 2 malformed records" in by_name["error prefix"].detail
    keys = [o["Key"] for o in aws.client("s3").list_objects_v2(Bucket=BUCKET).get("Contents", [])]
    assert keys == ["events/year=2026/month=11/other.gz"]  # only what it wrote is gone


def test_with_the_analytics_layer_it_crawls_and_counts(aws: boto3.Session) -> None:
    from moto.athena.models import QueryResults, athena_backends
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.moto_api import state_manager

    _deploy_real_time(aws)
    glue = aws.client("glue")
    glue.create_database(DatabaseInput={"Name": "mlbp_dev_lake"})
    glue.create_crawler(
        Name="mlbp-dev-lake-raw-events",
        Role="arn:aws:iam::1:role/r",
        DatabaseName="mlbp_dev_lake",
        Targets={"S3Targets": [{"Path": f"s3://{BUCKET}/events/"}]},
    )
    aws.client("athena").create_work_group(
        Name="mlbp-dev-lake",
        Configuration={"ResultConfiguration": {"OutputLocation": f"s3://{BUCKET}/athena/"}},
    )
    _stack(
        aws,
        "mlbp-dev-analytics",
        {
            "DatabaseName": "mlbp_dev_lake",
            "WorkGroupName": "mlbp-dev-lake",
            "RawCrawlerName": "mlbp-dev-lake-raw-events",
        },
    )
    athena_backends[DEFAULT_ACCOUNT_ID][REGION].query_results_queue.append(
        QueryResults(
            rows=[{"Data": [{"VarCharValue": "_col0"}]}, {"Data": [{"VarCharValue": "8"}]}],
            column_info=[],
        )
    )
    # moto does not crawl: its crawls complete at once.
    state_manager.set_transition(model_name="glue::crawl", transition={"progression": "immediate"})
    on_poll = FakeFirehose(aws)

    try:
        run = _smoke(aws, on_poll=on_poll).execute()
    finally:
        state_manager.unset_transition("glue::crawl")
    by_name = {s.name: s for s in run.stages}
    assert by_name["crawl"].status == PASSED
    assert by_name["athena count"].detail == "Athena counted all 8 good records"


def test_stages_an_emulator_cannot_run_are_skipped_with_the_reason_not_run(
    aws: boto3.Session,
) -> None:
    # As against MiniStack: its Firehose drops failed records, so nothing ever reaches the
    # error prefix; the stage must be reported skipped with why, and not waited for.
    _deploy_real_time(aws)
    _stack(
        aws,
        "mlbp-dev-analytics",
        {"DatabaseName": "d", "WorkGroupName": "w", "RawCrawlerName": "no-such-crawler"},
    )
    run = _smoke(aws, on_poll=FakeFirehose(aws), unsupported=EMULATOR_GAPS).execute()
    by_name = {s.name: s for s in run.stages}
    for stage in ("error prefix", "crawl", "athena count"):
        assert (by_name[stage].status, by_name[stage].detail) == (SKIPPED, EMULATOR_GAPS[stage])
    assert by_name["delivery"].status == PASSED
    assert run.error_keys == {}  # never looked for
    # and the crawl was not started: the crawler does not exist, so starting it would fail


def test_the_endpoint_url_is_where_every_call_goes(aws: boto3.Session) -> None:
    smoke = _smoke(aws, endpoint_url="http://127.0.0.1:4566")
    assert smoke._client("kinesis").meta.endpoint_url == "http://127.0.0.1:4566"
    assert _smoke(aws)._client("kinesis").meta.endpoint_url.startswith("https://kinesis.")


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (["--emulator"], "error: --emulator needs the emulator's address: --endpoint-url URL"),
        (
            ["--endpoint-url", "127.0.0.1:4566"],
            "error: endpoint URL '127.0.0.1:4566': expected http(s)://host[:port]",
        ),
    ],
)
def test_emulator_arguments_are_checked_first(
    aws: boto3.Session,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    arguments: list[str],
    expected: str,
) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    assert cli.main(["smoke", "--region", REGION, *arguments]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith(expected)


def test_a_stage_that_times_out_says_which_and_what_it_saw(aws: boto3.Session) -> None:
    _deploy_real_time(aws)
    smoke = _smoke(aws, on_poll=FakeFirehose(aws, lose=3))
    with pytest.raises(SmokeError) as error:
        smoke.execute()
    assert error.value.stage == "delivery"
    assert "timed out after 5 s: 5 of 8 good records under s3://" in error.value.message
    statuses = {s.name: s.status for s in smoke.run.stages}
    assert statuses["delivery"] == FAILED and statuses["clean-up"] == PASSED


def test_no_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    for key in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_SECURITY_TOKEN",
        "AWS_PROFILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_ROLE_ARN",
        "AWS_CREDENTIAL_EXPIRATION",
    ):
        monkeypatch.delenv(key, raising=False)
    (tmp_path / "credentials").write_text("")
    (tmp_path / "config").write_text("")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(SmokeError, match="no AWS credentials") as error:
        _smoke(boto3.Session(region_name=REGION)).execute()
    assert error.value.exit_code == 2


def test_no_region(aws: boto3.Session, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    with pytest.raises(SmokeError, match="no AWS region") as error:
        _smoke(boto3.Session()).execute()
    assert error.value.exit_code == 2


def test_stack_not_deployed_in_this_region(aws: boto3.Session) -> None:
    _deploy_real_time(aws)
    with pytest.raises(SmokeError, match="is not deployed in us-east-1 \\(wrong region") as error:
        _smoke(boto3.Session(region_name="us-east-1")).execute()
    assert error.value.exit_code == 2


def test_stack_outputs_missing(aws: boto3.Session) -> None:
    _deploy_real_time(aws, outputs={"StreamName": STREAM})
    with pytest.raises(SmokeError, match="lacks outputs DeliveryStreamName, RawPrefix, ErrorP"):
        _smoke(aws).execute()


def test_error_prefix_timeout(aws: boto3.Session) -> None:
    _deploy_real_time(aws)
    firehose = FakeFirehose(aws)

    def deliver_but_drop_errors() -> None:
        firehose()
        s3 = aws.client("s3")
        for item in s3.list_objects_v2(Bucket=BUCKET, Prefix="errors/").get("Contents", []):
            s3.delete_object(Bucket=BUCKET, Key=item["Key"])

    with pytest.raises(SmokeError) as error:
        _smoke(aws, on_poll=deliver_but_drop_errors).execute()
    assert error.value.stage == "error prefix"
    assert "0 of 2 malformed records" in error.value.message


def test_the_command_prints_the_table_and_a_one_line_reason(
    aws: boto3.Session, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.main(
        ["smoke", "--stack", "dev", "--region", REGION, "--timeout", "1", "--poll", "0.01"]
    )
    out, err = capsys.readouterr()
    assert code == 2
    assert err.strip().splitlines()[-1] == (
        "error: stack outputs: stack mlbp-dev-real-time is not deployed in eu-west-1 "
        "(wrong region? deploy it with `make deploy STACK=RealTime`)"
    )
    assert out.splitlines()[0].startswith("stage")
    assert "credentials" in out


def test_bad_arguments_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["smoke", "--records", "1", "--region", REGION]) == 2
    assert "records=1: at least 2" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (["--timeout", "nan"], "error: timeout=nan: a finite positive number of seconds"),
        (["--timeout", "inf"], "error: timeout=inf: a finite positive number of seconds"),
        (["--timeout", "-1"], "error: timeout=-1.0: a finite positive number of seconds"),
        (["--poll", "nan"], "error: poll=nan: a finite positive number of seconds"),
        (["--poll", "inf"], "error: poll=inf: a finite positive number of seconds"),
        (["--poll", "-1"], "error: poll=-1.0: a finite positive number of seconds"),
        (["--poll", "0"], "error: poll=0.0: a finite positive number of seconds"),
        (
            ["--records", "10001"],
            "error: records=10001: at least 2 (good and malformed ones) and at most 10000",
        ),
    ],
)
def test_each_bad_argument_is_one_error_line(
    capsys: pytest.CaptureFixture[str], arguments: list[str], expected: str
) -> None:
    assert cli.main(["smoke", "--region", REGION, *arguments]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [expected]


def test_records_are_written_in_calls_of_at_most_500(aws: boto3.Session) -> None:
    _deploy_real_time(aws)
    smoke = _smoke(aws)
    smoke.run.good, smoke.run.bad = 960, 240
    real = smoke._client("kinesis")
    calls: list[int] = []

    class Recording:
        def put_records(self, **kwargs: Any) -> Any:
            calls.append(len(kwargs["Records"]))
            return real.put_records(**kwargs)

    smoke._client = lambda service: Recording()  # type: ignore[method-assign]
    assert "in 3 calls" in smoke._write(STREAM)
    assert calls == [500, 500, 200]


def test_failed_records_are_retried_then_fail_clearly(aws: boto3.Session) -> None:
    smoke = _smoke(aws)
    sent: list[int] = []

    class Throttled:
        def put_records(self, **kwargs: Any) -> Any:
            records = kwargs["Records"]
            sent.append(len(records))
            answer = [{"SequenceNumber": "1", "ShardId": "s"} for _ in records]
            answer[0] = {"ErrorCode": "ProvisionedThroughputExceededException"}
            return {"FailedRecordCount": 1, "Records": answer}

    smoke._client = lambda service: Throttled()  # type: ignore[method-assign]
    with pytest.raises(SmokeError, match="1 records still failed after 4 attempts"):
        smoke._write(STREAM)
    assert sent == [10, 1, 1, 1]


def test_a_malformed_aws_config_file_is_one_error_line(
    aws: boto3.Session,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Any,
) -> None:
    config = tmp_path / "config"
    config.write_text("[default\nregion = eu-west-1\n[[[\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    assert cli.main(["smoke", "--region", REGION, "--timeout", "1", "--poll", "0.01"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error:") and "config" in err[-1]
    assert sum(line.startswith("error:") for line in err) == 1
    assert not any("Traceback" in line for line in err)
