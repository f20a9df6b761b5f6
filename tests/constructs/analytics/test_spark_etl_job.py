"""SparkEtlJob: the Glue job, its schedule, its role and its validation."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest

from ml_blueprints.constructs import SecureDataLake
from ml_blueprints.constructs.analytics.data_catalog import DataCatalog
from ml_blueprints.constructs.analytics.spark_etl_job import SCRIPT, SCRIPT_MODULES, SparkEtlJob
from tests.conftest import Synthesized
from tests.constructs.scopes import fresh_scope


def _job(project: Synthesized) -> dict[str, Any]:
    [job] = project.resources("Analytics", "AWS::Glue::Job").values()
    return job["Properties"]


def test_job_runs_the_spark_script_on_glue_5(project: Synthesized) -> None:
    job = _job(project)
    assert job["Name"] == "mlbp-dev-lake-raw-to-curated"
    assert job["GlueVersion"] == "5.0"
    assert job["Command"]["Name"] == "glueetl" and job["Command"]["PythonVersion"] == "3"
    assert (job["WorkerType"], job["NumberOfWorkers"]) == ("G.1X", 2)
    assert (job["Timeout"], job["MaxRetries"]) == (60, 1)
    assert job["ExecutionProperty"] == {"MaxConcurrentRuns": 1}
    assert job["SecurityConfiguration"] == "mlbp_dev_lake-security"


def test_job_arguments_ship_the_modules_and_turn_on_metrics_and_logs(project: Synthesized) -> None:
    args = _job(project)["DefaultArguments"]
    # the job keeps its own ledger of processed files; Glue bookmarks would track nothing
    assert args["--job-bookmark-option"] == "job-bookmark-disable"
    job: SparkEtlJob = project.stack("Analytics").job
    modules = project.stack("Analytics").resolve(job.modules.s3_object_url)
    assert args["--extra-py-files"] == modules
    assert modules["Fn::Sub"].endswith(".zip")
    assert args["--enable-metrics"] == "true"
    assert args["--enable-observability-metrics"] == "true"
    assert args["--enable-continuous-cloudwatch-log"] == "true"
    assert json.dumps(args["--input_path"]).endswith('"/events/"]]}')
    assert "LakeRawBucket" in json.dumps(args["--input_path"])
    assert "LakeCuratedBucket" in json.dumps(args["--output_path"])
    assert json.dumps(args["--quarantine_path"]).endswith('"/quarantine/events/"]]}')


def test_the_deployed_script_is_the_tested_module(project: Synthesized) -> None:
    location = json.dumps(_job(project)["Command"]["ScriptLocation"])
    manifest = json.loads((project.outdir / "Analytics.assets.json").read_text())
    [asset] = [a for a in manifest["files"].values() if a["source"]["path"].endswith(".py")]
    assert asset["destinations"]
    packaged = project.outdir / asset["source"]["path"]
    assert packaged.read_bytes() == SCRIPT.read_bytes()
    assert SCRIPT.name == "spark_etl.py" and ".py" in location


def test_the_modules_zip_holds_the_tested_modules_only(project: Synthesized) -> None:
    job: SparkEtlJob = project.stack("Analytics").job
    staged = project.outdir / f"asset.{job.modules.asset_hash}"
    assert sorted(p.name for p in staged.iterdir()) == sorted(SCRIPT_MODULES)
    for name in SCRIPT_MODULES:
        assert (staged / name).read_bytes() == (SCRIPT.parent / name).read_bytes()


def test_the_script_runs_with_the_modules_zip_and_without_the_package(
    project: Synthesized, tmp_path: Path
) -> None:
    """As Glue and EMR run it: the script on its own, the zip on the Python path."""
    job: SparkEtlJob = project.stack("Analytics").job
    staged = project.outdir / f"asset.{job.modules.asset_hash}"
    archive = shutil.make_archive(str(tmp_path / "modules"), "zip", staged)
    shutil.copy(SCRIPT, tmp_path / "spark_etl.py")
    code = (
        "import sys; sys.path[:0] = sys.argv[1:]; import spark_etl; "
        "assert 'ml_blueprints' not in sys.modules; "
        "print(spark_etl.contract.__name__, spark_etl.fileio.__name__, spark_etl.schema.__name__,"
        " spark_etl.contract.__file__)"
    )
    # site-packages on the path by hand (-S: its .pth files, the package's among them, unread)
    site = next(p for p in sys.path if p.endswith("site-packages"))
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code, archive, str(tmp_path), site],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        cwd=tmp_path,
    )
    assert result.stdout.split()[:3] == ["event_contract", "spark_files", "spark_schema"]
    assert result.stdout.split()[3].startswith(archive)


def test_job_runs_on_a_daily_schedule(project: Synthesized) -> None:
    [trigger] = project.resources("Analytics", "AWS::Glue::Trigger").values()
    props = trigger["Properties"]
    assert (props["Type"], props["Schedule"]) == ("SCHEDULED", "cron(15 2 * * ? *)")
    assert props["StartOnCreation"] is True
    assert props["Actions"] == [{"JobName": "mlbp-dev-lake-raw-to-curated"}]


def test_job_role_reads_raw_and_writes_only_curated_and_quarantine(project: Synthesized) -> None:
    stack = project.stack("Analytics")
    job: SparkEtlJob = stack.job
    role_id = stack.get_logical_id(job.role.node.default_child)
    assert (
        project.template_json("Analytics")["Resources"][role_id]["Properties"]["RoleName"]
        == "mlbp-dev-svc-etl-job"
    )
    policy_id = stack.get_logical_id(job.role.grants_policy.node.default_child)
    statements = {
        s["Sid"]: s
        for s in project.template_json("Analytics")["Resources"][policy_id]["Properties"][
            "PolicyDocument"
        ]["Statement"]
    }
    assert statements["ReadRawEvents"]["Action"] == "s3:GetObject"
    assert json.dumps(statements["ReadRawEvents"]["Resource"]).endswith('"/events/*"]]}')
    writes = sorted(
        (json.dumps(r["Fn::Join"][1][0]), r["Fn::Join"][1][1])
        for r in statements["WriteCuratedAndQuarantine"]["Resource"]
    )
    assert [suffix for _, suffix in writes] == ["/events/*", "/quarantine/events/*"]
    assert "LakeCuratedBucket" in writes[0][0] and "LakeRawBucket" in writes[1][0]
    assert statements["PublishJobMetrics"]["Condition"] == {
        "StringEquals": {"cloudwatch:namespace": "Glue"}
    }
    script = statements["ReadTheScript"]["Resource"]
    assert len(script) == 2 and "*" not in json.dumps(script)  # two objects, not the bucket
    stack_of = project.stack("Analytics")
    assert sorted(r["Fn::Join"][1][-1] for r in script) == sorted(
        "/" + stack_of.resolve(asset.s3_object_key) for asset in (job.script, job.modules)
    )


@pytest.fixture(scope="module")
def catalog() -> DataCatalog:
    """Shared by the validation tests below (see tests/constructs/scopes.py)."""
    stack = cdk.Stack(cdk.App(), "Validation")
    return DataCatalog(stack, "Catalog", lake=SecureDataLake(stack, "Lake"), database_name="lake")


@pytest.mark.parametrize(
    ("props", "expected"),
    [
        ({"source_zone": "gold"}, "source_zone='gold': one of the lake's zones"),
        ({"target_prefix": "curated"}, "target_prefix='curated': a key prefix ending in '/'"),
        (
            {"quarantine_zone": "curated", "quarantine_prefix": "events/"},
            "the source, target and quarantine locations all different",
        ),
        ({"glue_version": "3.0"}, "glue_version='3.0': one of 5.0, 4.0"),
        ({"worker_type": "Standard"}, "worker_type='Standard': one of G.1X"),
        ({"number_of_workers": 1}, "number_of_workers=1: 2 to 299"),
        ({"timeout_minutes": 0}, "timeout_minutes=0: 1 to 2880"),
        ({"max_retries": 11}, "max_retries=11: 0 to 10"),
        ({"schedule": "cron(15 2 * * *)"}, "schedule='cron(15 2 * * *)': an AWS cron"),
    ],
)
def test_invalid_props_are_refused_with_a_clear_error(
    catalog: DataCatalog, props: dict[str, Any], expected: str
) -> None:
    with pytest.raises(ValueError, match=r"^SparkEtlJob: invalid prop") as error:
        SparkEtlJob(fresh_scope(catalog), "Job", catalog=catalog, **props)
    assert expected in str(error.value)


def test_without_a_schedule_there_is_no_trigger(catalog: DataCatalog) -> None:
    job = SparkEtlJob(fresh_scope(catalog), "Job", catalog=catalog, schedule=None)
    assert job.trigger is None
