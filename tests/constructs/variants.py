"""Stacks that exercise the constructs' non-default props, for the construct tests.

They are synthesized once per session with the same rule packs as the project's app, so
each variant is also covered by the compliance and cfn-lint checks.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_secretsmanager as secretsmanager

from ml_blueprints.constructs import (
    DEFAULT_COLUMNS,
    AlertTopic,
    AuditTrail,
    BudgetThresholds,
    Column,
    CostBudget,
    ManagedPolicyRole,
    PrivateNetwork,
    RecordFormat,
    SecureDataLake,
    StreamingIngestion,
    StreamLoad,
    ZoneLifecycle,
)
from ml_blueprints.constructs.analytics.data_catalog import (
    MIN_BYTES_SCANNED_CUTOFF,
    DataCatalog,
    ZoneCrawl,
)
from ml_blueprints.constructs.bigdata.spark_cluster import DEFAULT_GPU_TYPES, SparkCluster
from tests.constructs.ingestion.variants import build_ingestion_layer_variants
from tests.constructs.serving.variants import build_serving_variants

IMPORTED_KEY_ARN = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
PATTERN_EXEMPTION = "arn:aws:iam::111122223333:role/etl-*"


VARIANT_ENV = cdk.Environment(account="111122223333", region="eu-west-1")


def build_variants(app: cdk.App) -> None:
    # What `cdk synth` would look up for an environment-specific stack, given here offline.
    app.node.set_context(
        "availability-zones:account=111122223333:region=eu-west-1",
        ["eu-west-1a", "eu-west-1b", "eu-west-1c"],
    )
    build_ingestion_variants(app)
    build_catalog_variants(app)
    build_cluster_variants(app)
    build_training_variants(app)
    build_governance_variants(app)
    build_serving_variants(app, VARIANT_ENV)
    build_ingestion_layer_variants(app, VARIANT_ENV)
    network_stack = cdk.Stack(app, "NetworkWithNat", env=VARIANT_ENV)
    PrivateNetwork(
        network_stack,
        "Network",
        cidr="10.20.0.0/16",
        max_azs=3,
        nat_gateways=1,
        interface_endpoints=["sts", "kinesis-streams"],
        flow_log_retention_days=90,
    )

    custom = cdk.Stack(app, "LakeCustomZones")
    SecureDataLake(
        custom,
        "Lake",
        zones=["landing", "raw", "features"],
        bucket_name_prefix="acme-ml-dev",
        lifecycle={
            "landing": ZoneLifecycle(expire_after_days=14, noncurrent_versions_expire_after_days=1)
        },
        abort_incomplete_uploads_after_days=3,
        access_log_retention_days=90,
    )

    shared = cdk.Stack(app, "LakeSharedKey")
    network = PrivateNetwork(shared, "Network")
    key = kms.Key.from_key_arn(shared, "ImportedKey", IMPORTED_KEY_ARN)
    lake = SecureDataLake(
        shared,
        "Lake",
        encryption_key=key,
        vpc_endpoint=network.s3_endpoint,
        endpoint_exempt_principal_arns=[PATTERN_EXEMPTION],
        exempt_called_via=["athena.amazonaws.com", "glue.amazonaws.com"],
    )
    reader = ManagedPolicyRole(
        shared,
        "Reader",
        assumed_by=iam.ServicePrincipal("glue.amazonaws.com"),
        description="Reads the curated zone",
    )
    writer = ManagedPolicyRole(
        shared,
        "Writer",
        assumed_by=iam.ServicePrincipal("firehose.amazonaws.com"),
        description="Writes events/ in the raw zone",
    )
    plain = iam.Role(
        shared,
        "PlainReader",
        assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
        description="A plain iam.Role: grants still go into a customer-managed policy",
    )
    # The grants acknowledge their own unavoidable wildcards: no acknowledgment here.
    lake.grant_read("curated", reader)
    lake.grant_write("raw", writer, "events/*")
    lake.grant_read("raw", plain, "events/*")
    lake.grant_read("curated", plain)
    lake.exempt_from_endpoint_restriction(writer)  # registered after the lake was built


def build_catalog_variants(app: cdk.App) -> None:
    """DataCatalog in the lake's stack: whole-zone crawl on a schedule, full recrawls, an
    analyst role granted queries, the smallest scan limit."""
    stack = cdk.Stack(app, "CatalogInStack")
    lake = SecureDataLake(stack, "Lake", vpc_endpoint=PrivateNetwork(stack, "Network").s3_endpoint)
    catalog = DataCatalog(
        stack,
        "Catalog",
        lake=lake,
        database_name="team_lake",
        crawls=[ZoneCrawl("raw", "", schedule="cron(0 3 * * ? *)", exclusions=["errors/**"])],
        recrawl_everything=True,
        bytes_scanned_cutoff=MIN_BYTES_SCANNED_CUTOFF,
        results_retention_days=7,
    )
    analyst = ManagedPolicyRole(
        stack, "Analyst", assumed_by=iam.AccountRootPrincipal(), description="Runs queries"
    )
    catalog.grant_query(analyst)


def build_cluster_variants(app: cdk.App) -> None:
    """SparkCluster with Kerberos, TLS, a GPU task fleet, spot core (opted in), no idle stop."""
    stack = cdk.Stack(app, "ClusterVariants")
    network = PrivateNetwork(stack, "Network")
    lake = SecureDataLake(stack, "Lake", vpc_endpoint=network.s3_endpoint)
    SparkCluster(
        stack,
        "Spark",
        lake=lake,
        network=network,
        applications=["Spark", "Hadoop", "Trino"],
        core_capacity=2,
        core_spot_capacity=2,
        allow_spot_core=True,
        gpu_task_types=DEFAULT_GPU_TYPES,
        gpu_spot_capacity=2,
        max_capacity_units=40,
        max_on_demand_units=4,
        idle_timeout_seconds=None,
        tls_certificates_s3_uri="s3://acme-certs/emr/certs.zip",
        kerberos_realm="EC2.INTERNAL",
        kdc_admin_password=secretsmanager.Secret.from_secret_name_v2(stack, "Kdc", "emr/kdc"),
        glue_database_name="team_lake",
    )


def build_ingestion_variants(app: cdk.App) -> None:
    """StreamingIngestion in the lake's own stack, converting to Parquet, sized from load."""
    stack = cdk.Stack(app, "IngestionInStack")
    lake = SecureDataLake(stack, "Lake", vpc_endpoint=PrivateNetwork(stack, "Network").s3_endpoint)
    StreamingIngestion(
        stack,
        "Ingestion",
        lake=lake,
        prefix="clicks/web",
        record_format=RecordFormat.PARQUET,
        columns=[
            *DEFAULT_COLUMNS,
            Column("amount", "decimal(10,2)"),
            Column("tags", "array<string>"),
        ],
        buffer_size_mib=128,
        buffer_interval_seconds=600,
        expected_load=INGESTION_LOAD,
        retention_hours=168,
        transform_reserved_concurrency=None,
        alerts=AlertTopic(stack, "Alerts", emails=["ops@example.com"]),
    )


#: The own-code pipeline's source directory in "TrainingVariants" (written at build time).
OWN_TRAINING_CODE: dict[str, str] = {
    "fit.py": "import helpers.io\nprint('training')\n",
    "helpers/io.py": "def read():\n    return []\n",
}


def build_training_variants(app: cdk.App) -> None:
    """TrainingPipeline with your own script and data (no data step, no pre-trained model,
    on-demand, metrics of your own), and with the data step split by entity, side by side
    on one lake."""
    import tempfile
    from pathlib import Path

    from ml_blueprints.constructs.ml.training_pipeline import TrainingDataStep, TrainingPipeline

    code = Path(tempfile.mkdtemp(prefix="mlbp-own-code-"))
    for name, text in OWN_TRAINING_CODE.items():
        (code / name).parent.mkdir(parents=True, exist_ok=True)
        (code / name).write_text(text)
    own = cdk.Stack(app, "TrainingVariants", env=VARIANT_ENV)
    network = PrivateNetwork(own, "Network")
    lake = SecureDataLake(own, "Lake", vpc_endpoint=network.s3_endpoint)
    TrainingPipeline(
        own,
        "Training",
        lake=lake,
        network=network,
        alerts=AlertTopic(own, "Alerts"),
        source_dir=code,
        entry_point="fit.py",
        training_data=None,
        base_model_id=None,
        training_image="111122223333.dkr.ecr.eu-west-1.amazonaws.com/fit:1",
        inference_image="111122223333.dkr.ecr.eu-west-1.amazonaws.com/serve:1",
        training_instance_type="ml.p3.2xlarge",
        use_spot=False,
        max_runtime_seconds=3600,
        hosting_instance_type="ml.g4dn.xlarge",
        input_prefix="datasets/reviews/",
        hyperparameters={"epochs": "1", "sagemaker_container_log_level": "20"},
        metric_definitions={"valid:acc": r"acc=([0-9.]+)"},
    )
    TrainingPipeline(
        own,
        "ByEntity",
        lake=lake,
        network=network,
        alerts=AlertTopic(own, "ByEntityAlerts"),
        training_data=TrainingDataStep(
            source_prefix="events/reviews/",
            text_column="body",
            label_column="stars",
            split="entity",
            entity_column="user_id",
            validation_fraction=0.1,
            instance_type="ml.c6i.2xlarge",
            volume_size_gib=200,
            max_runtime_seconds=7200,
        ),
        base_model_id="google-bert/bert-base-uncased",
        hyperparameters={"learning_rate": "3e-05", "max_length": "512"},
    )


#: 5.5 MB/s and 2,000 records/s written, read by 3 consumers: 6 shards for writes, 9 for reads.
INGESTION_LOAD = StreamLoad(
    write_mb_per_s=5.5, write_records_per_s=2000, read_mb_per_s=5.5, consumers=3
)


def build_governance_variants(app: cdk.App) -> None:
    """A budget with its own key, custom thresholds, one tag and e-mails; a trail with its
    own key, write-only data events on one bucket, no archive or expiry, deleted with the
    stack."""
    stack = cdk.Stack(app, "GovernanceVariants")
    CostBudget(
        stack,
        "Budget",
        amount_usd=1234.5,
        thresholds=BudgetThresholds(actual_percent=(50,), forecast_percent=(90, 110)),
        tags={"team": "ml"},
        emails=["ops@example.com", "finance@example.com"],
    )
    lake = SecureDataLake(stack, "Lake", zones=["raw"], removal_policy=cdk.RemovalPolicy.DESTROY)
    AuditTrail(
        stack,
        "Trail",
        data_event_buckets=[lake.bucket("raw")],
        data_events="WriteOnly",
        archive_after_days=None,
        retention_days=None,
        log_retention_days=90,
        removal_policy=cdk.RemovalPolicy.DESTROY,
    )
