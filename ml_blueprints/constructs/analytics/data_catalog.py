"""DataCatalog: the Glue Data Catalog over the lake, its crawlers, and an Athena workgroup.

The course notes' analytics layer: crawlers catalogue what lands in the lake's zones, Athena
queries it with SQL. Crawls are incremental, logs and bookmarks are encrypted by a Glue
security configuration, and every query runs in a workgroup that enforces encrypted results
and a per-query scan limit.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import aws_cdk as cdk
from aws_cdk import aws_athena as athena
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from constructs import Construct

from ml_blueprints.compliance import acknowledge_wildcard_resources
from ml_blueprints.constructs.shared.defaults import CRON_ALLOWED, is_aws_cron
from ml_blueprints.constructs.shared.grants import grant_on_managed_policy
from ml_blueprints.constructs.shared.managed_policy_role import ManagedPolicyRole
from ml_blueprints.constructs.storage.secure_data_lake import SecureDataLake
from ml_blueprints.validation import PropErrors, TypedProps, typed_props

#: Athena's minimum for a workgroup's per-query data usage control (10 MB).
MIN_BYTES_SCANNED_CUTOFF = 10_000_000
DEFAULT_BYTES_SCANNED_CUTOFF = 10 * 1024**3  # 10 GiB: about $0.05 per query at $5/TB
ATHENA_ENGINE = "Athena engine version 3"
#: What :meth:`DataCatalog.grant_query` allows in the workgroup.
QUERY_ACTIONS: tuple[str, ...] = (
    "athena:StartQueryExecution",
    "athena:StopQueryExecution",
    "athena:GetQueryExecution",
    "athena:GetQueryResults",
    "athena:GetQueryResultsStream",
    "athena:BatchGetQueryExecution",
    "athena:ListQueryExecutions",
    "athena:GetWorkGroup",
    "athena:GetNamedQuery",
    "athena:BatchGetNamedQuery",
    "athena:ListNamedQueries",
)
#: What :meth:`DataCatalog.grant_query` allows on the catalog, its database and tables.
CATALOG_READ_ACTIONS: tuple[str, ...] = (
    "glue:GetDatabase",
    "glue:GetTable",
    "glue:GetTables",
    "glue:GetPartition",
    "glue:GetPartitions",
    "glue:BatchGetPartition",
)
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_PREFIX = re.compile(r"^$|^[a-z0-9][a-z0-9_\-/]*/$")


@dataclass(frozen=True)
class ZoneCrawl(TypedProps):
    """One crawler: the data under ``prefix`` (ending in ``/``, or ``""`` for the whole zone)
    of lake ``zone``, crawled on ``schedule`` (AWS cron; ``None`` to run only on demand, e.g.
    from a Step Functions workflow). Tables are named ``<table_prefix><folder>``
    (``table_prefix`` defaults to ``<zone>_``)."""

    zone: str
    prefix: str = ""
    schedule: str | None = None
    table_prefix: str | None = None
    exclusions: Sequence[str] = field(default_factory=tuple)


@dataclass(frozen=True)
class NamedQuery(TypedProps):
    """A saved Athena query: ``{database}`` in ``sql`` is replaced by the catalog database's
    name; any other brace is kept as written (``regexp_like(id, '^[0-9]{8}$')``)."""

    name: str
    description: str
    sql: str


class DataCatalog(Construct):
    """A Glue database, a crawler per :class:`ZoneCrawl`, and an Athena workgroup.

    Defaults and the choices behind them:

    - Recrawl policy ``CRAWL_NEW_FOLDERS_ONLY``: each run reads only folders added since
      the last one (partitions arrive by the hour), which keeps crawls cheap and fast. AWS
      then requires schema changes to be logged, not applied (``LOG``/``LOG``), so a changed
      schema is a deliberate act: run with ``recrawl_everything=True`` (which updates tables
      in place and deprecates, never deletes, vanished ones).
    - Table-level settings: partitions inherit their table's schema, new columns are merged
      into tables, compatible schemas are combined into one table, and tables are created at
      the folder level of the crawled prefix (so ``events/year=.../`` becomes one
      partitioned table ``<zone>_events``).
    - A Glue security configuration encrypting crawler and job CloudWatch logs and job
      bookmarks with the lake key, and S3 writes with SSE-KMS.
    - One crawler role for all crawlers: reads only the crawled prefixes, writes only this
      database's tables.
    - Athena workgroup: engine version 3, configuration enforced (clients cannot override
      it), results under ``results_prefix`` (``athena-results/``) of ``results_zone``
      (``analytics``) encrypted with the lake key and deleted after
      ``results_retention_days`` (30), at most ``bytes_scanned_cutoff`` (10 GiB) scanned per
      query, CloudWatch metrics on.

    Attributes: ``database_name``, ``crawlers`` (by ``<zone>/<prefix>``), ``crawler_role``,
    ``security_configuration_name``, ``workgroup``, ``workgroup_name``, ``named_queries``.
    """

    @typed_props
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        lake: SecureDataLake,
        database_name: str,
        crawls: Sequence[ZoneCrawl] = (),
        recrawl_everything: bool = False,
        workgroup_name: str | None = None,
        results_zone: str = "analytics",
        results_prefix: str = "athena-results/",
        results_retention_days: int = 30,
        bytes_scanned_cutoff: int = DEFAULT_BYTES_SCANNED_CUTOFF,
        named_queries: Sequence[NamedQuery] = (),
        crawler_role_name: str | None = None,
        removal_policy: cdk.RemovalPolicy = cdk.RemovalPolicy.RETAIN,
    ) -> None:
        super().__init__(scope, id)
        _validate(
            lake=lake,
            database_name=database_name,
            crawls=crawls,
            workgroup_name=workgroup_name,
            results_zone=results_zone,
            results_prefix=results_prefix,
            results_retention_days=results_retention_days,
            bytes_scanned_cutoff=bytes_scanned_cutoff,
            named_queries=named_queries,
        )
        role_name = lake.outside_role_name(self, "crawler", crawler_role_name, owner="DataCatalog")
        self.lake = lake
        stack = cdk.Stack.of(self)
        self.database_name = database_name
        self.database = glue.CfnDatabase(
            self,
            "Database",
            catalog_id=stack.account,
            database_input=glue.CfnDatabase.DatabaseInputProperty(
                name=database_name, description=f"The data lake's catalog ({self.node.path})"
            ),
        )
        self.security_configuration_name = f"{database_name}-security"
        security = glue.CfnSecurityConfiguration(
            self,
            "SecurityConfiguration",
            name=self.security_configuration_name,
            encryption_configuration=glue.CfnSecurityConfiguration.EncryptionConfigurationProperty(
                cloud_watch_encryption=glue.CfnSecurityConfiguration.CloudWatchEncryptionProperty(
                    cloud_watch_encryption_mode="SSE-KMS", kms_key_arn=lake.key.key_arn
                ),
                job_bookmarks_encryption=glue.CfnSecurityConfiguration.JobBookmarksEncryptionProperty(
                    job_bookmarks_encryption_mode="CSE-KMS", kms_key_arn=lake.key.key_arn
                ),
                s3_encryptions=[
                    glue.CfnSecurityConfiguration.S3EncryptionProperty(
                        s3_encryption_mode="SSE-KMS", kms_key_arn=lake.key.key_arn
                    )
                ],
            ),
        )
        self.security_configuration = security

        self.crawler_role = ManagedPolicyRole(
            self,
            "CrawlerRole",
            role_name=role_name,
            assumed_by=iam.ServicePrincipal("glue.amazonaws.com").with_conditions(
                {"StringEquals": {"aws:SourceAccount": stack.account}}
            ),
            description=f"Glue crawlers of the {database_name} catalog",
        )
        lake.admit_outside_role(self.crawler_role)
        self.crawlers: dict[str, glue.CfnCrawler] = {}
        for crawl in crawls:
            self.crawlers[f"{crawl.zone}/{crawl.prefix}"] = self._crawler(crawl, recrawl_everything)
        if crawls:
            self._grant_crawler_access(crawls)

        self.workgroup_name = workgroup_name or database_name.replace("_", "-")
        self.results_zone = results_zone
        self.results_prefix = results_prefix
        lake.expire_objects(results_zone, results_prefix, results_retention_days)
        results_bucket = lake.bucket(results_zone)
        self.workgroup = athena.CfnWorkGroup(
            self,
            "WorkGroup",
            name=self.workgroup_name,
            description=f"Queries over {database_name} (ml-blueprints)",
            state="ENABLED",
            recursive_delete_option=removal_policy == cdk.RemovalPolicy.DESTROY,
            work_group_configuration=athena.CfnWorkGroup.WorkGroupConfigurationProperty(
                enforce_work_group_configuration=True,
                publish_cloud_watch_metrics_enabled=True,
                bytes_scanned_cutoff_per_query=bytes_scanned_cutoff,
                requester_pays_enabled=False,
                engine_version=athena.CfnWorkGroup.EngineVersionProperty(
                    selected_engine_version=ATHENA_ENGINE
                ),
                result_configuration=athena.CfnWorkGroup.ResultConfigurationProperty(
                    output_location=f"s3://{results_bucket.bucket_name}/{results_prefix}",
                    encryption_configuration=athena.CfnWorkGroup.EncryptionConfigurationProperty(
                        encryption_option="SSE_KMS", kms_key=lake.key.key_arn
                    ),
                ),
            ),
        )
        self.workgroup.apply_removal_policy(removal_policy)
        self.named_queries: dict[str, athena.CfnNamedQuery] = {}
        for query in named_queries:
            named = athena.CfnNamedQuery(
                self,
                f"Query{_pascal(query.name)}",
                name=query.name,
                description=query.description,
                database=database_name,
                # Only {database} is substituted: SQL uses braces of its own (regular
                # expressions such as '\d{3}', JSON, map literals), so str.format would fail.
                query_string=query.sql.replace("{database}", database_name),
                work_group=self.workgroup.ref,
            )
            named.add_resource_dependency(self.database)
            self.named_queries[query.name] = named

    # ------------------------------------------------------------------------------ grants

    @property
    def workgroup_arn(self) -> str:
        return cdk.Stack.of(self).format_arn(
            service="athena", resource="workgroup", resource_name=self.workgroup_name
        )

    @typed_props
    def grant_query(self, principal: iam.IGrantable, zones: Sequence[str] = ()) -> iam.Grant:
        """Give ``principal`` exactly what running queries in the workgroup needs: the
        workgroup's query actions (:data:`QUERY_ACTIONS`), read access to this database's
        catalog entries (:data:`CATALOG_READ_ACTIONS`) and to the objects of ``zones``
        (default: every crawled zone), and writing results under the results prefix, with
        the lake key through S3 only. Nothing outside the workgroup.

        Like the lake's grants, the statements go into a customer-managed policy attached to
        ``principal`` and the wildcards no query grant can avoid (the database's tables, the
        zones' objects, the generated result files) are acknowledged on it.
        """
        errors = PropErrors("DataCatalog.grant_query")
        for zone in zones:
            errors.require(
                zone in self.lake.zones, "zones", zone, f"one of {', '.join(self.lake.zones)}"
            )
        errors.raise_if_any()
        stack = cdk.Stack.of(self)
        crawled = list(zones) or sorted({key.split("/", 1)[0] for key in self.crawlers})
        results = self.lake.bucket(self.results_zone)
        result_objects = results.arn_for_objects(f"{self.results_prefix}*")
        zone_objects = [self.lake.bucket(zone).arn_for_objects("*") for zone in crawled]
        buckets = sorted(
            {results.bucket_arn, *(self.lake.bucket(zone).bucket_arn for zone in crawled)},
            key=str,
        )
        statements = [
            iam.PolicyStatement(actions=list(QUERY_ACTIONS), resources=[self.workgroup_arn]),
            iam.PolicyStatement(actions=list(CATALOG_READ_ACTIONS), resources=self._catalog_arns()),
            iam.PolicyStatement(
                actions=["s3:PutObject", "s3:GetObject", "s3:AbortMultipartUpload"],
                resources=[result_objects],
            ),
            iam.PolicyStatement(
                actions=["s3:ListBucket", "s3:GetBucketLocation"], resources=buckets
            ),
            iam.PolicyStatement(
                actions=["kms:Decrypt", "kms:GenerateDataKey"],
                resources=[self.lake.key.key_arn],
                conditions={"StringEquals": {"kms:ViaService": f"s3.{stack.region}.amazonaws.com"}},
            ),
        ]
        if zone_objects:
            statements.append(iam.PolicyStatement(actions=["s3:GetObject"], resources=zone_objects))
        return grant_on_managed_policy(
            principal,
            statements,
            wildcard_resources=[self._catalog_arns()[2], result_objects, *zone_objects],
            reason="DataCatalog.grant_query: queries read any table of this one database and "
            "the objects of the zones granted, and write result files with generated names "
            "under the workgroup's results prefix; every action is listed one by one.",
        )

    # ---------------------------------------------------------------------------- builders

    def _catalog_arns(self) -> list[str]:
        stack = cdk.Stack.of(self)
        return [
            stack.format_arn(service="glue", resource="catalog"),
            stack.format_arn(service="glue", resource="database", resource_name=self.database_name),
            stack.format_arn(
                service="glue", resource="table", resource_name=f"{self.database_name}/*"
            ),
        ]

    def _crawler(self, crawl: ZoneCrawl, recrawl_everything: bool) -> glue.CfnCrawler:
        bucket = self.lake.bucket(crawl.zone)
        depth = len([part for part in crawl.prefix.split("/") if part])
        configuration = {
            "Version": 1.0,
            "CrawlerOutput": {
                "Partitions": {"AddOrUpdateBehavior": "InheritFromTable"},
                "Tables": {"AddOrUpdateBehavior": "MergeNewColumns"},
            },
            "Grouping": {
                "TableGroupingPolicy": "CombineCompatibleSchemas",
                "TableLevelConfiguration": max(2, 1 + depth),
            },
        }
        slug = re.sub(r"[^a-z0-9]+", "-", f"{crawl.zone}-{crawl.prefix}").strip("-")
        crawler = glue.CfnCrawler(
            self,
            f"{_pascal(slug)}Crawler",
            name=f"{self.database_name.replace('_', '-')}-{slug}",
            description=f"Catalogues s3://<{crawl.zone} zone>/{crawl.prefix} into "
            f"{self.database_name}",
            role=self.crawler_role.role_arn,
            database_name=self.database_name,
            table_prefix=crawl.table_prefix if crawl.table_prefix is not None else f"{crawl.zone}_",
            targets=glue.CfnCrawler.TargetsProperty(
                s3_targets=[
                    glue.CfnCrawler.S3TargetProperty(
                        path=f"s3://{bucket.bucket_name}/{crawl.prefix}",
                        exclusions=list(crawl.exclusions) or None,
                    )
                ]
            ),
            recrawl_policy=glue.CfnCrawler.RecrawlPolicyProperty(
                recrawl_behavior="CRAWL_EVERYTHING"
                if recrawl_everything
                else "CRAWL_NEW_FOLDERS_ONLY"
            ),
            schema_change_policy=glue.CfnCrawler.SchemaChangePolicyProperty(
                update_behavior="UPDATE_IN_DATABASE" if recrawl_everything else "LOG",
                delete_behavior="DEPRECATE_IN_DATABASE" if recrawl_everything else "LOG",
            ),
            configuration=json.dumps(configuration),
            crawler_security_configuration=self.security_configuration_name,
            schedule=glue.CfnCrawler.ScheduleProperty(schedule_expression=crawl.schedule)
            if crawl.schedule
            else None,
        )
        crawler.add_resource_dependency(self.database)
        crawler.add_resource_dependency(self.security_configuration)
        return crawler

    def _grant_crawler_access(self, crawls: Sequence[ZoneCrawl]) -> None:
        stack = cdk.Stack.of(self)
        role = self.crawler_role
        objects: list[str] = []
        buckets: list[str] = []
        for crawl in crawls:
            bucket = self.lake.bucket(crawl.zone)
            objects.append(bucket.arn_for_objects(f"{crawl.prefix}*"))
            buckets.append(bucket.bucket_arn)
        log_groups = stack.format_arn(
            service="logs",
            resource="log-group",
            resource_name="/aws-glue/crawlers*",
            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
        )
        statements = [
            iam.PolicyStatement(
                sid="ReadTheCrawledPrefixes",
                actions=["s3:GetObject"],
                resources=objects,
            ),
            iam.PolicyStatement(
                sid="ListTheCrawledBuckets",
                actions=["s3:ListBucket", "s3:GetBucketLocation"],
                resources=sorted(set(buckets), key=str),
            ),
            iam.PolicyStatement(
                sid="DecryptLakeData",
                actions=["kms:Decrypt"],
                resources=[self.lake.key.key_arn],
            ),
            iam.PolicyStatement(
                sid="MaintainThisDatabasesTables",
                actions=[
                    "glue:GetDatabase",
                    "glue:GetTable",
                    "glue:GetTables",
                    "glue:CreateTable",
                    "glue:UpdateTable",
                    "glue:GetPartition",
                    "glue:GetPartitions",
                    "glue:BatchGetPartition",
                    "glue:CreatePartition",
                    "glue:BatchCreatePartition",
                    "glue:UpdatePartition",
                    "glue:BatchUpdatePartition",
                ],
                resources=self._catalog_arns(),
            ),
            iam.PolicyStatement(
                sid="ReadTheSecurityConfiguration",
                actions=["glue:GetSecurityConfiguration"],
                resources=["*"],
            ),
            iam.PolicyStatement(
                sid="WriteEncryptedCrawlerLogs",
                actions=[
                    "logs:CreateLogGroup",
                    "logs:CreateLogStream",
                    "logs:PutLogEvents",
                    "logs:AssociateKmsKey",
                ],
                resources=[log_groups, f"{log_groups}:*"],
            ),
            iam.PolicyStatement(
                sid="EncryptCrawlerLogs",
                actions=["kms:Encrypt", "kms:GenerateDataKey"],
                resources=[self.lake.key.key_arn],
            ),
        ]
        for statement in statements:
            role.add_to_principal_policy(statement)
        acknowledge_wildcard_resources(
            role.grants_policy,  # type: ignore[arg-type]
            [*objects, self._catalog_arns()[2], log_groups, f"{log_groups}:*", "*"],
            "Crawlers read objects and create tables and log streams whose names are not "
            "known in advance; each wildcard stays inside one crawled prefix, this catalog "
            "database, or Glue's crawler log groups. GetSecurityConfiguration has no resource "
            "type.",
        )


def _pascal(name: str) -> str:
    return "".join(part.capitalize() for part in re.split(r"[^A-Za-z0-9]+", name) if part)


def _validate(
    *,
    lake: SecureDataLake,
    database_name: str,
    crawls: Sequence[ZoneCrawl],
    workgroup_name: str | None,
    results_zone: str,
    results_prefix: str,
    results_retention_days: int,
    bytes_scanned_cutoff: int,
    named_queries: Sequence[NamedQuery],
) -> None:
    errors = PropErrors("DataCatalog")
    errors.require(
        isinstance(database_name, str) and bool(_NAME.match(database_name)),
        "database_name",
        database_name,
        "1-64 characters: lowercase letters, digits and '_', starting with a letter",
    )
    zones = ", ".join(lake.zones)
    seen: set[tuple[str, str]] = set()
    for crawl in crawls:
        if not errors.require(isinstance(crawl, ZoneCrawl), "crawls", crawl, "ZoneCrawl(...)"):
            continue
        errors.require(crawl.zone in lake.zones, "crawls.zone", crawl.zone, f"one of {zones}")
        errors.require(
            isinstance(crawl.prefix, str) and bool(_PREFIX.match(crawl.prefix)),
            "crawls.prefix",
            crawl.prefix,
            "'' for the whole zone, or a key prefix ending in '/' such as 'events/'",
        )
        errors.require(
            (crawl.zone, crawl.prefix) not in seen,
            "crawls",
            f"{crawl.zone}/{crawl.prefix}",
            "each zone and prefix crawled once",
        )
        seen.add((crawl.zone, crawl.prefix))
        if crawl.schedule is not None:
            errors.require(
                is_aws_cron(crawl.schedule), "crawls.schedule", crawl.schedule, CRON_ALLOWED
            )
        if crawl.table_prefix is not None:
            errors.require(
                bool(re.fullmatch(r"[a-z0-9_]{0,64}", crawl.table_prefix)),
                "crawls.table_prefix",
                crawl.table_prefix,
                "lowercase letters, digits and '_'",
            )
    if workgroup_name is not None:
        errors.require(
            bool(re.fullmatch(r"[A-Za-z0-9._-]{1,128}", workgroup_name)),
            "workgroup_name",
            workgroup_name,
            "1-128 letters, digits, '.', '_' and '-'",
        )
    errors.require(results_zone in lake.zones, "results_zone", results_zone, f"one of {zones}")
    errors.require(
        isinstance(results_prefix, str)
        and bool(re.fullmatch(r"[a-z0-9][a-z0-9_\-/]*/", results_prefix)),
        "results_prefix",
        results_prefix,
        "a key prefix ending in '/', e.g. 'athena-results/'",
    )
    errors.require(
        isinstance(results_retention_days, int) and results_retention_days >= 1,
        "results_retention_days",
        results_retention_days,
        "a whole number of days, at least 1",
    )
    errors.require(
        isinstance(bytes_scanned_cutoff, int)
        and not isinstance(bytes_scanned_cutoff, bool)
        and bytes_scanned_cutoff >= MIN_BYTES_SCANNED_CUTOFF,
        "bytes_scanned_cutoff",
        bytes_scanned_cutoff,
        f"at least {MIN_BYTES_SCANNED_CUTOFF:,} bytes (10 MB, Athena's minimum)",
    )
    names: set[str] = set()
    for query in named_queries:
        errors.require(
            isinstance(query, NamedQuery)
            and 1 <= len(query.name) <= 128
            and query.name not in names
            and bool(query.sql.strip()),
            "named_queries",
            getattr(query, "name", query),
            "NamedQuery(name, description, sql) with unique names of 1-128 characters and SQL",
        )
        names.add(getattr(query, "name", ""))
        if isinstance(query, NamedQuery):
            errors.require(
                len(query.description) <= 1024,
                f"named_queries[{query.name!r}].description",
                query.description[:40] + "...",
                "at most 1,024 characters (Athena's limit)",
            )
            errors.require(
                len(query.sql.encode()) <= 262_144,
                f"named_queries[{query.name!r}].sql",
                query.sql[:40] + "...",
                "at most 262,144 bytes (Athena's limit)",
            )
    errors.raise_if_any()


def queries_for_curated_events(table: str) -> list[NamedQuery]:
    """Named queries that read only the partitions they need from a table partitioned by
    ``event_date`` (the Spark job's output)."""
    return [
        NamedQuery(
            name="events-per-day-last-7-days",
            description="Daily event counts for the last week: prunes to 7 event_date partitions",
            sql=(
                "SELECT event_date, event_type, count(*) AS events\n"
                f'FROM "{{database}}"."{table}"\n'
                "WHERE event_date >= date_add('day', -7, current_date)\n"
                "GROUP BY event_date, event_type\nORDER BY event_date, events DESC"
            ),
        ),
        NamedQuery(
            name="events-of-one-day",
            description="All events of yesterday: reads a single event_date partition",
            sql=(
                f'SELECT * FROM "{{database}}"."{table}"\n'
                "WHERE event_date = date_add('day', -1, current_date)\nLIMIT 100"
            ),
        ),
        NamedQuery(
            name="explain-partition-pruning",
            description="Shows the plan: only the filtered partitions are scanned",
            sql=(
                "EXPLAIN (TYPE DISTRIBUTED)\n"
                f'SELECT count(*) FROM "{{database}}"."{table}"\n'
                "WHERE event_date BETWEEN date '2026-01-01' AND date '2026-01-07'"
            ),
        ),
    ]


__all__ = ["DataCatalog", "NamedQuery", "ZoneCrawl", "queries_for_curated_events"]
