"""DataCatalog: database, crawlers, security configuration, Athena workgroup and grants."""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
import pytest

from ml_blueprints.constructs import SecureDataLake
from ml_blueprints.constructs.analytics.data_catalog import (
    CATALOG_READ_ACTIONS,
    QUERY_ACTIONS,
    DataCatalog,
    NamedQuery,
    ZoneCrawl,
)
from tests.conftest import Synthesized
from tests.constructs.scopes import fresh_scope


def _by_type(synth: Synthesized, stack_id: str, resource_type: str) -> list[dict[str, Any]]:
    return [r["Properties"] for r in synth.resources(stack_id, resource_type).values()]


def test_database_and_security_configuration_encrypt_with_the_lake_key(
    project: Synthesized,
) -> None:
    [database] = _by_type(project, "Analytics", "AWS::Glue::Database")
    assert database["DatabaseInput"]["Name"] == "mlbp_dev_lake"
    [security] = _by_type(project, "Analytics", "AWS::Glue::SecurityConfiguration")
    assert security["Name"] == "mlbp_dev_lake-security"
    config = security["EncryptionConfiguration"]
    assert config["CloudWatchEncryption"]["CloudWatchEncryptionMode"] == "SSE-KMS"
    assert config["JobBookmarksEncryption"]["JobBookmarksEncryptionMode"] == "CSE-KMS"
    assert config["S3Encryptions"][0]["S3EncryptionMode"] == "SSE-KMS"
    for key in (
        config["CloudWatchEncryption"]["KmsKeyArn"],
        config["JobBookmarksEncryption"]["KmsKeyArn"],
    ):
        assert "LakeKey" in json.dumps(key)


def test_a_crawler_per_zone_incremental_with_logged_schema_changes(project: Synthesized) -> None:
    crawlers = {c["TablePrefix"]: c for c in _by_type(project, "Analytics", "AWS::Glue::Crawler")}
    assert set(crawlers) == {"raw_", "curated_"}
    for prefix, crawler in crawlers.items():
        [target] = crawler["Targets"]["S3Targets"]
        path = json.dumps(target["Path"])
        assert path.endswith('"/events/"]]}')
        assert ("LakeRawBucket" if prefix == "raw_" else "LakeCuratedBucket") in path
        assert crawler["RecrawlPolicy"] == {"RecrawlBehavior": "CRAWL_NEW_FOLDERS_ONLY"}
        assert crawler["SchemaChangePolicy"] == {"UpdateBehavior": "LOG", "DeleteBehavior": "LOG"}
        assert crawler["CrawlerSecurityConfiguration"] == "mlbp_dev_lake-security"
        assert crawler["DatabaseName"] == "mlbp_dev_lake"
        assert "Schedule" not in crawler  # the workflow runs them
        config = json.loads(crawler["Configuration"])
        assert config["CrawlerOutput"]["Partitions"] == {"AddOrUpdateBehavior": "InheritFromTable"}
        assert config["CrawlerOutput"]["Tables"] == {"AddOrUpdateBehavior": "MergeNewColumns"}
        assert config["Grouping"] == {
            "TableGroupingPolicy": "CombineCompatibleSchemas",
            "TableLevelConfiguration": 2,
        }


def test_full_recrawls_update_tables_and_never_delete_them(
    construct_variants: Synthesized,
) -> None:
    [crawler] = _by_type(construct_variants, "CatalogInStack", "AWS::Glue::Crawler")
    assert crawler["RecrawlPolicy"] == {"RecrawlBehavior": "CRAWL_EVERYTHING"}
    assert crawler["SchemaChangePolicy"] == {
        "UpdateBehavior": "UPDATE_IN_DATABASE",
        "DeleteBehavior": "DEPRECATE_IN_DATABASE",
    }
    assert crawler["Schedule"] == {"ScheduleExpression": "cron(0 3 * * ? *)"}
    assert crawler["Targets"]["S3Targets"][0]["Exclusions"] == ["errors/**"]


def _policy(synth: Synthesized, stack_id: str, role: Any) -> list[dict[str, Any]]:
    policy_id = synth.stack(stack_id).get_logical_id(role.grants_policy.node.default_child)
    return synth.template_json(stack_id)["Resources"][policy_id]["Properties"]["PolicyDocument"][
        "Statement"
    ]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_crawler_role_reads_only_crawled_prefixes_and_writes_only_its_database(
    project: Synthesized,
) -> None:
    catalog: DataCatalog = project.stack("Analytics").catalog
    role_id = project.stack("Analytics").get_logical_id(catalog.crawler_role.node.default_child)
    role = project.template_json("Analytics")["Resources"][role_id]["Properties"]
    assert role["RoleName"] == "mlbp-dev-svc-crawler"
    [trust] = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "glue.amazonaws.com"}
    statements = {s["Sid"]: s for s in _policy(project, "Analytics", catalog.crawler_role)}
    reads = statements["ReadTheCrawledPrefixes"]
    assert _as_list(reads["Action"]) == ["s3:GetObject"]
    assert all(json.dumps(r).endswith('"/events/*"]]}') for r in reads["Resource"])
    tables = statements["MaintainThisDatabasesTables"]
    assert not [a for a in tables["Action"] if "Delete" in a]
    assert json.dumps(tables["Resource"]).count("mlbp_dev_lake") == 2  # database + its tables
    everything = [a for s in statements.values() for a in _as_list(s["Action"])]
    assert not [a for a in everything if a.startswith("s3:Put") or a.startswith("s3:Delete")]


def test_workgroup_enforces_encrypted_results_a_scan_limit_and_metrics(
    project: Synthesized,
) -> None:
    [workgroup] = _by_type(project, "Analytics", "AWS::Athena::WorkGroup")
    assert workgroup["Name"] == "mlbp-dev-lake"
    config = workgroup["WorkGroupConfiguration"]
    assert config["EnforceWorkGroupConfiguration"] is True
    assert config["PublishCloudWatchMetricsEnabled"] is True
    assert config["BytesScannedCutoffPerQuery"] == 10 * 1024**3
    assert config["EngineVersion"] == {"SelectedEngineVersion": "Athena engine version 3"}
    results = config["ResultConfiguration"]
    assert json.dumps(results["OutputLocation"]).endswith('"/athena-results/"]]}')
    assert results["EncryptionConfiguration"]["EncryptionOption"] == "SSE_KMS"
    assert "LakeKey" in json.dumps(results["EncryptionConfiguration"]["KmsKey"])


def test_query_results_expire_in_the_analytics_zone(
    project: Synthesized, construct_variants: Synthesized
) -> None:
    for synth, stack_id, days in (
        (project, "DataLake", 30),
        (construct_variants, "CatalogInStack", 7),
    ):
        lake = synth.stack(stack_id).node.find_child("Lake")
        bucket_id = synth.stack(stack_id).get_logical_id(
            lake.bucket("analytics").node.default_child
        )
        rules = synth.template_json(stack_id)["Resources"][bucket_id]["Properties"][
            "LifecycleConfiguration"
        ]["Rules"]
        [rule] = [r for r in rules if r["Id"] == "expire-athena-results"]
        assert (rule["Prefix"], rule["ExpirationInDays"]) == ("athena-results/", days)


def test_named_queries_prune_partitions_of_the_curated_table(project: Synthesized) -> None:
    queries = {q["Name"]: q for q in _by_type(project, "Analytics", "AWS::Athena::NamedQuery")}
    assert set(queries) == {
        "events-per-day-last-7-days",
        "events-of-one-day",
        "explain-partition-pruning",
    }
    for query in queries.values():
        assert '"mlbp_dev_lake"."curated_events"' in query["QueryString"]
        assert "WHERE event_date" in query["QueryString"]
        assert query["Database"] == "mlbp_dev_lake"
        assert "WorkGroup" in query


def test_grant_query_gives_the_workgroup_catalog_data_and_results(
    construct_variants: Synthesized,
) -> None:
    stack = construct_variants.stack("CatalogInStack")
    lake = stack.node.find_child("Lake")
    statements = _policy(construct_variants, "CatalogInStack", stack.node.find_child("Analyst"))
    by_action = {
        json.dumps(sorted(s["Action"]) if isinstance(s["Action"], list) else s["Action"]): s
        for s in statements
    }
    athena = by_action[json.dumps(sorted(QUERY_ACTIONS))]
    assert json.dumps(athena["Resource"]).endswith(':workgroup/team-lake"]]}')
    assert not [a for a in QUERY_ACTIONS if "*" in a or "Delete" in a or "Update" in a]
    catalog = by_action[json.dumps(sorted(CATALOG_READ_ACTIONS))]
    ends = [json.dumps(r).rsplit('"', 2)[-2] for r in catalog["Resource"]]
    assert ends == [":catalog", ":database/team_lake", ":table/team_lake/*"]
    assert all(a.startswith(("glue:Get", "glue:BatchGet")) for a in CATALOG_READ_ACTIONS)
    results = by_action[json.dumps(["s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject"])]
    assert json.dumps(results["Resource"]).endswith('"/athena-results/*"]]}')
    raw_id = stack.get_logical_id(lake.bucket("raw").node.default_child)
    raw_read = by_action[json.dumps("s3:GetObject")]
    assert raw_read["Resource"] == {"Fn::Join": ["", [{"Fn::GetAtt": [raw_id, "Arn"]}, "/*"]]}
    assert all("Sid" not in s for s in statements)  # two grants to one role cannot collide
    assert len(statements) == 6


@pytest.fixture(scope="module")
def lake() -> SecureDataLake:
    """Shared by the validation tests below (see tests/constructs/scopes.py)."""
    return SecureDataLake(cdk.Stack(cdk.App(), "Validation"), "Lake")


@pytest.mark.parametrize(
    ("props", "expected"),
    [
        ({"database_name": "Lake-DB"}, "database_name='Lake-DB': 1-64 characters"),
        ({"crawls": [ZoneCrawl("gold")]}, "crawls.zone='gold': one of raw, curated, analytics"),
        ({"crawls": [ZoneCrawl("raw", "events")]}, "crawls.prefix='events'"),
        ({"crawls": [ZoneCrawl("raw"), ZoneCrawl("raw")]}, "each zone and prefix crawled once"),
        (
            {"crawls": [ZoneCrawl("raw", schedule="rate(1 day)")]},
            "crawls.schedule='rate(1 day)': an AWS cron expression",
        ),
        ({"crawls": [ZoneCrawl("raw", schedule="cron(0 3 * * * *)")]}, "crawls.schedule="),
        ({"crawls": [ZoneCrawl("raw", table_prefix="Raw-")]}, "crawls.table_prefix='Raw-'"),
        ({"crawls": ["raw"]}, "crawls[0]='raw': a ZoneCrawl"),
        ({"workgroup_name": "has space"}, "workgroup_name='has space'"),
        ({"results_zone": "gold"}, "results_zone='gold'"),
        ({"results_prefix": "results"}, "results_prefix='results'"),
        ({"results_retention_days": 0}, "results_retention_days=0"),
        (
            {"bytes_scanned_cutoff": 9_999_999},
            "bytes_scanned_cutoff=9999999: at least 10,000,000 bytes (10 MB, Athena's minimum)",
        ),
        (
            {"named_queries": [NamedQuery("q", "d", "SELECT 1"), NamedQuery("q", "d", "SELECT 2")]},
            "named_queries='q': NamedQuery(name, description, sql) with unique names",
        ),
    ],
)
def test_invalid_props_are_refused_with_a_clear_error(
    lake: SecureDataLake, props: dict[str, Any], expected: str
) -> None:
    props.setdefault("database_name", "lake")
    with pytest.raises(ValueError, match=r"^DataCatalog: invalid prop") as error:
        DataCatalog(fresh_scope(lake), "Catalog", lake=lake, **props)
    assert expected in str(error.value)


def test_braces_in_named_query_sql_are_kept_and_only_database_is_filled_in(
    lake: SecureDataLake,
) -> None:
    sql = (
        "SELECT json_extract(payload, '$.a'), map(ARRAY[1], ARRAY['{x}'])\n"
        'FROM "{database}"."events"\n'
        "WHERE regexp_like(event_id, '^[0-9]{8}$') AND note <> '{}' AND tag <> '{0}'"
    )
    catalog = DataCatalog(
        fresh_scope(lake),
        "Catalog",
        lake=lake,
        database_name="braces",
        named_queries=[NamedQuery("with-braces", "regular expression and literals", sql)],
    )
    query = catalog.named_queries["with-braces"].query_string
    assert query == sql.replace('"{database}"', '"braces"')
    assert "{8}" in query and "'{x}'" in query and "'{0}'" in query


def test_named_query_limits_are_athenas(lake: SecureDataLake) -> None:
    with pytest.raises(ValueError) as error:
        DataCatalog(
            fresh_scope(lake),
            "Catalog",
            lake=lake,
            database_name="limits",
            named_queries=[NamedQuery("big", "d" * 1025, "SELECT '" + "x" * 262_144 + "'")],
        )
    message = str(error.value)
    assert "named_queries['big'].description='dddd" in message
    assert "at most 1,024 characters (Athena's limit)" in message
    assert "named_queries['big'].sql=\"SELECT 'xxx" in message
    assert "at most 262,144 bytes (Athena's limit)" in message
