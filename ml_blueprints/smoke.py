"""The post-deploy smoke test: prove the deployed platform works end to end.

Writes synthetic events (some deliberately malformed) to the real-time layer's stream, waits
until Firehose has delivered the good ones under the raw prefix and the bad ones under the
error prefix, and, when the analytics layer is deployed, crawls the raw zone and counts the
events with Athena. Every name comes from the stacks' outputs. It removes only what it wrote:
delivered objects that hold nothing but its own records, and its query's result files.
"""

from __future__ import annotations

import base64
import gzip
import json
import math
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

PASSED, FAILED, SKIPPED = "pass", "FAIL", "skip"
EXIT_PASSED, EXIT_FAILED, EXIT_PRECONDITION = 0, 1, 2
REAL_TIME_OUTPUTS = ("StreamName", "DeliveryStreamName", "RawPrefix", "ErrorPrefix")
ANALYTICS_OUTPUTS = ("DatabaseName", "WorkGroupName", "RawCrawlerName")
#: At most this many events per run (``records``).
MAX_RECORDS = 10_000
#: Kinesis PutRecords limits: records and bytes (data plus partition keys) per call.
PUT_RECORDS_MAX_COUNT = 500
PUT_RECORDS_MAX_BYTES = 5 * 1024 * 1024
#: Attempts per chunk for records the stream marks failed (throttled) before giving up.
PUT_RECORDS_ATTEMPTS = 4

#: Stages a local MiniStack emulator cannot run, with the reason (``smoke --emulator``
#: reports them skipped, never passed). Everything else runs as against AWS.
EMULATOR_GAPS: dict[str, str] = {
    "error prefix": "the emulator's Firehose drops records the transform answers "
    "ProcessingFailed instead of writing them under the error prefix",
    "crawl": "the emulator's Glue crawler reads no data: a run only changes its state",
    "athena count": "the emulator cannot query the table (no crawler-made table, no engine "
    "reading the lake's objects)",
}


class SmokeError(Exception):
    """A stage could not pass; ``exit_code`` 2 for what must be fixed before a run (no
    credentials, wrong region, stack not deployed), 1 for a failed stage."""

    def __init__(self, stage: str, message: str, exit_code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.stage = stage
        self.message = message
        self.exit_code = exit_code


@dataclass
class Stage:
    """One line of the result table."""

    name: str
    status: str
    seconds: float
    detail: str


@dataclass
class SmokeRun:
    """What a run wrote and saw, for the stages and the clean-up."""

    run_id: str
    good: int
    bad: int
    stages: list[Stage] = field(default_factory=list)
    delivered_keys: dict[str, bool] = field(default_factory=dict)  # key -> only ours
    error_keys: dict[str, bool] = field(default_factory=dict)
    query_output: str | None = None


def split_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix/`` -> (``bucket``, ``some/prefix/``)."""
    if not uri.startswith("s3://") or "/" not in uri[5:]:
        raise ValueError(f"not an s3:// URI with a key prefix: {uri!r}")
    bucket, _, prefix = uri[5:].partition("/")
    return bucket, prefix


def _outputs(
    cloudformation: Any, stack_name: str, region: str, required: Iterable[str], layer: str
) -> dict[str, str]:
    try:
        stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as error:
        if "does not exist" in str(error):
            raise SmokeError(
                "stack outputs",
                f"stack {stack_name} is not deployed in {region} (wrong region? deploy it with "
                f"`make deploy STACK={layer}`)",
                EXIT_PRECONDITION,
            ) from None
        raise
    stack = stacks[0]
    if not stack["StackStatus"].endswith("_COMPLETE") or "ROLLBACK" in stack["StackStatus"]:
        raise SmokeError(
            "stack outputs",
            f"stack {stack_name} is {stack['StackStatus']}, not deployed and stable",
            EXIT_PRECONDITION,
        )
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    missing = [key for key in required if key not in outputs]
    if missing:
        raise SmokeError(
            "stack outputs",
            f"stack {stack_name} lacks outputs {', '.join(missing)}: redeploy it with this "
            "version of ml-blueprints",
            EXIT_PRECONDITION,
        )
    return outputs


def _records(body: bytes) -> list[bytes]:
    if body[:2] == b"\x1f\x8b":
        body = gzip.decompress(body)
    return [line for line in body.splitlines() if line.strip()]


def _chunks(entries: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    """``entries`` in PutRecords calls of at most 500 records and 5 MB each."""
    chunk: list[dict[str, Any]] = []
    size = 0
    for entry in entries:
        entry_size = len(entry["Data"]) + len(entry["PartitionKey"].encode())
        if chunk and (
            len(chunk) >= PUT_RECORDS_MAX_COUNT or size + entry_size > PUT_RECORDS_MAX_BYTES
        ):
            yield chunk
            chunk, size = [], 0
        chunk.append(entry)
        size += entry_size
    if chunk:
        yield chunk


class Smoke:
    """One smoke run against the stacks of environment ``env_name``.

    ``on_poll`` is called at each wait (tests stand in there for what their fake AWS cannot
    do, such as Firehose reading the stream); ``progress`` receives one line per wait.
    ``endpoint_url`` sends every call there (a local emulator; default: AWS);
    ``unsupported`` names stages to report as skipped with the reason instead of running
    them (:data:`EMULATOR_GAPS` for MiniStack; default none).

    ``records`` is 2 to :data:`MAX_RECORDS` (10000); ``timeout`` and ``poll_seconds`` are
    finite positive seconds. Anything else raises :class:`ValueError`.
    """

    def __init__(
        self,
        session: boto3.Session,
        *,
        env_name: str = "dev",
        records: int = 20,
        timeout: float = 900,
        poll_seconds: float = 10,
        progress: Callable[[str], None] = lambda line: None,
        on_poll: Callable[[], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        endpoint_url: str | None = None,
        unsupported: Mapping[str, str] | None = None,
    ) -> None:
        if not 2 <= records <= MAX_RECORDS:
            raise ValueError(
                f"records={records!r}: at least 2 (good and malformed ones) and at most "
                f"{MAX_RECORDS}"
            )
        for name, value in (("timeout", timeout), ("poll", poll_seconds)):
            if not math.isfinite(value) or value <= 0:
                raise ValueError(f"{name}={value!r}: a finite positive number of seconds")
        self.session = session
        self.env_name = env_name
        self.timeout = timeout
        self.poll_seconds = poll_seconds
        self.progress = progress
        self.on_poll = on_poll
        self.sleep = sleep
        self.clock = clock
        self.endpoint_url = endpoint_url
        self.unsupported = dict(unsupported or {})
        bad = max(1, records // 5)
        self.run = SmokeRun(run_id=uuid.uuid4().hex[:12], good=records - bad, bad=bad)

    # ------------------------------------------------------------------------------ stages

    def execute(self) -> SmokeRun:
        """Run every stage; raises :class:`SmokeError` at the first that fails."""
        region = self._stage("credentials", self._check_credentials)
        real_time = self._stage(
            "stack outputs",
            lambda: _outputs(
                self._client("cloudformation"),
                f"mlbp-{self.env_name}-real-time",
                region,
                REAL_TIME_OUTPUTS,
                "RealTime",
            ),
        )
        self._stage("write", lambda: self._write(real_time["StreamName"]))
        try:
            self._stage("delivery", lambda: self._wait_for_delivery(real_time["RawPrefix"]))
            self._stage("error prefix", lambda: self._wait_for_errors(real_time["ErrorPrefix"]))
            self._analytics(region)
        finally:
            self._stage("clean-up", lambda: self._clean_up(real_time))
        return self.run

    def _stage(self, name: str, action: Callable[[], Any]) -> Any:
        if name in self.unsupported:
            self.run.stages.append(Stage(name, SKIPPED, 0.0, self.unsupported[name]))
            return None
        started = self.clock()
        try:
            result = action()
        except SmokeError as error:
            self.run.stages.append(Stage(name, FAILED, self.clock() - started, error.message))
            raise
        except (ClientError, BotoCoreError) as error:
            message = f"{type(error).__name__}: {error}"
            self.run.stages.append(Stage(name, FAILED, self.clock() - started, message))
            raise SmokeError(name, message) from error
        detail = result if isinstance(result, str) else ""
        if isinstance(result, tuple):  # (status, detail)
            status, detail = result
        else:
            status = PASSED
        self.run.stages.append(Stage(name, status, self.clock() - started, detail))
        return result

    def _client(self, service: str) -> Any:
        return self.session.client(service, endpoint_url=self.endpoint_url)

    def _check_credentials(self) -> str:
        region = self.session.region_name
        if not region:
            raise SmokeError(
                "credentials",
                "no AWS region: pass --region or set AWS_REGION",
                EXIT_PRECONDITION,
            )
        try:
            identity = self._client("sts").get_caller_identity()
        except (NoCredentialsError, NoRegionError) as error:
            raise SmokeError(
                "credentials",
                f"no AWS credentials ({error}): set AWS_PROFILE or AWS_ACCESS_KEY_ID",
                EXIT_PRECONDITION,
            ) from None
        except ClientError as error:
            raise SmokeError(
                "credentials", f"AWS rejected the credentials: {error}", EXIT_PRECONDITION
            ) from None
        del identity  # only whether the call succeeds matters
        return region

    def _write(self, stream: str) -> str:
        now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        entries = []
        run = self.run.run_id
        for i in range(self.run.good):
            event = {
                "event_id": f"smoke-{run}-{i}",
                "event_type": "smoke_test",
                "event_time": now,
                "smoke_run": run,
            }
            entries.append({"Data": json.dumps(event).encode(), "PartitionKey": f"{run}-{i}"})
        for i in range(self.run.bad):
            entries.append(
                {"Data": f"not json smoke-{run}-bad-{i}".encode(), "PartitionKey": f"{run}-bad-{i}"}
            )
        kinesis = self._client("kinesis")
        calls = 0
        for chunk in _chunks(entries):
            pending = chunk
            for attempt in range(PUT_RECORDS_ATTEMPTS):
                answer = kinesis.put_records(StreamName=stream, Records=pending)
                calls += 1
                if not answer.get("FailedRecordCount", 0) and not any(
                    "ErrorCode" in r for r in answer["Records"]
                ):
                    break
                pending = [
                    e for e, r in zip(pending, answer["Records"], strict=True) if "ErrorCode" in r
                ]
                if not pending:
                    break
                if attempt + 1 < PUT_RECORDS_ATTEMPTS:
                    self.sleep(2**attempt)
            else:
                codes = sorted(
                    {r.get("ErrorCode", "?") for r in answer["Records"] if "ErrorCode" in r}
                )
                raise SmokeError(
                    "write",
                    f"{len(pending)} records still failed after {PUT_RECORDS_ATTEMPTS} "
                    f"attempts ({', '.join(codes)})",
                )
        return (
            f"{self.run.good} good + {self.run.bad} malformed records in {calls} calls (run {run})"
        )

    def _wait(self, stage: str, done: Callable[[], tuple[bool, str]]) -> str:
        deadline = self.clock() + self.timeout
        while True:
            if self.on_poll is not None:
                self.on_poll()
            finished, seen = done()
            if finished:
                return seen
            if self.clock() >= deadline:
                raise SmokeError(stage, f"timed out after {self.timeout:g} s: {seen}")
            self.progress(f"  {stage}: {seen}; waiting")
            self.sleep(self.poll_seconds)

    def _scan(self, uri: str, match: Callable[[bytes], bool], into: dict[str, bool]) -> int:
        bucket, prefix = split_s3_uri(uri)
        s3 = self._client("s3")
        count = 0
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                records = _records(s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read())
                ours = [r for r in records if match(r)]
                if ours:
                    into[f"s3://{bucket}/{item['Key']}"] = len(ours) == len(records)
                    count += len(ours)
        return count

    def _wait_for_delivery(self, raw_prefix: str) -> str:
        run = self.run.run_id

        def ours(record: bytes) -> bool:
            try:
                return json.loads(record).get("smoke_run") == run
            except (ValueError, AttributeError):
                return False

        def check() -> tuple[bool, str]:
            self.run.delivered_keys.clear()
            seen = self._scan(raw_prefix, ours, self.run.delivered_keys)
            return (
                seen >= self.run.good,
                f"{seen} of {self.run.good} good records under {raw_prefix}",
            )

        return self._wait("delivery", check)

    def _wait_for_errors(self, error_prefix: str) -> str:
        marker = f"smoke-{self.run.run_id}-bad-".encode()

        def ours(record: bytes) -> bool:
            try:
                raw = base64.b64decode(json.loads(record).get("rawData", ""))
            except (ValueError, AttributeError):
                return False
            return marker in raw

        def check() -> tuple[bool, str]:
            self.run.error_keys.clear()
            seen = self._scan(error_prefix, ours, self.run.error_keys)
            return (
                seen >= self.run.bad,
                f"{seen} of {self.run.bad} malformed records under {error_prefix}",
            )

        return self._wait("error prefix", check)

    def _analytics(self, region: str) -> None:
        cloudformation = self._client("cloudformation")
        name = f"mlbp-{self.env_name}-analytics"
        try:
            outputs = _outputs(cloudformation, name, region, ANALYTICS_OUTPUTS, "Analytics")
        except SmokeError as error:
            if "is not deployed" not in error.message:
                raise
            self.run.stages.append(Stage("crawl + query", SKIPPED, 0.0, f"{name} not deployed"))
            return
        self._stage("crawl", lambda: self._crawl(outputs["RawCrawlerName"]))
        self._stage(
            "athena count", lambda: self._count(outputs["DatabaseName"], outputs["WorkGroupName"])
        )

    def _crawl(self, crawler: str) -> str:
        glue = self._client("glue")
        try:
            glue.start_crawler(Name=crawler)
        except ClientError as error:
            if error.response["Error"]["Code"] != "CrawlerRunningException":
                raise

        def check() -> tuple[bool, str]:
            state = glue.get_crawler(Name=crawler)["Crawler"]
            last = state.get("LastCrawl", {})
            if state["State"] == "READY" and last.get("Status") == "FAILED":
                raise SmokeError("crawl", f"crawler {crawler} failed: {last.get('ErrorMessage')}")
            return state["State"] == "READY", f"crawler {crawler} is {state['State']}"

        return self._wait("crawl", check)

    def _count(self, database: str, workgroup: str) -> str:
        athena = self._client("athena")
        query = (
            f'SELECT count(*) FROM "{database}"."raw_events" '
            f"WHERE smoke_run = '{self.run.run_id}'"
        )
        execution = athena.start_query_execution(QueryString=query, WorkGroup=workgroup)
        query_id = execution["QueryExecutionId"]

        def check() -> tuple[bool, str]:
            status = athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]
            state = status["Status"]["State"]
            self.run.query_output = status.get("ResultConfiguration", {}).get("OutputLocation")
            if state in ("FAILED", "CANCELLED"):
                reason = status["Status"].get("StateChangeReason", "")
                raise SmokeError("athena count", f"query {state.lower()}: {reason}")
            return state == "SUCCEEDED", f"query {query_id} is {state}"

        self._wait("athena count", check)
        rows = athena.get_query_results(QueryExecutionId=query_id)["ResultSet"]["Rows"]
        counted = int(rows[1]["Data"][0]["VarCharValue"]) if len(rows) > 1 else 0
        if counted != self.run.good:
            raise SmokeError(
                "athena count", f"Athena counted {counted} of the {self.run.good} good records"
            )
        return f"Athena counted all {counted} good records"

    def _clean_up(self, outputs: dict[str, str]) -> tuple[str, str]:
        s3 = self._client("s3")
        removed, kept = 0, 0
        targets = {**self.run.delivered_keys, **self.run.error_keys}
        if self.run.query_output:
            targets[self.run.query_output] = True
            targets[f"{self.run.query_output}.metadata"] = True
        for uri, only_ours in targets.items():
            if not only_ours:
                kept += 1  # another producer's records share the object: leave it
                continue
            bucket, key = split_s3_uri(uri)
            s3.delete_object(Bucket=bucket, Key=key)
            removed += 1
        detail = f"removed {removed} objects it wrote"
        if kept:
            detail += f"; kept {kept} shared with other producers' records"
        return PASSED, detail


def table(stages: Iterable[Stage]) -> str:
    """The per-stage result table, as aligned text."""
    rows = [("stage", "result", "seconds", "detail")] + [
        (s.name, s.status, f"{s.seconds:.1f}", s.detail) for s in stages
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    return "\n".join(
        f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:>{widths[2]}}  {r[3]}" for r in rows
    )
