"""Every construct of ml-blueprints, spread over nine stacks of your own, with non-default
props.

The lake lives in its own stack; the other layers reference it across stacks, with whatever
cross-stack references your app uses (CDK's default strong references, or weak ones). The
service roles that reach the lake from outside its VPC (Firehose, Glue) get names starting
with the lake's exempt prefix, so the lake's stack never depends on theirs.

Not here: the Redshift Serverless ``Warehouse``, which needs a network in three availability
zones, so a stack with an explicit account and region whose zones `cdk synth` looks up with
credentials (this repository's ``Serving`` stack shows it with ``-c warehouse=true``).

    python examples/multi_stack/app.py   # or `cdk synth` with "app": "python app.py"
"""

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_secretsmanager as secretsmanager

from ml_blueprints.compliance import apply_rule_packs
from ml_blueprints.constructs import (
    AlertTopic,
    AuditTrail,
    BatchJob,
    BudgetThresholds,
    Column,
    CostBudget,
    DatabaseReplication,
    DataCatalog,
    DeviceIngestion,
    EtlWorkflow,
    FleetType,
    GpuNotebook,
    ManagedPolicyRole,
    MonitoredStateMachine,
    MySqlSource,
    NamedQuery,
    NfsShare,
    OnPremisesSync,
    PrivateNetwork,
    RecordFormat,
    ResultsTable,
    SageMakerEndpoint,
    SecureDataLake,
    SparkCluster,
    SparkEtlJob,
    SparkStep,
    StateMachineSchedule,
    StreamingIngestion,
    StreamLoad,
    TableExport,
    TrainingPipeline,
    ZoneCrawl,
    ZoneLifecycle,
    queries_for_curated_events,
    shards_for,
)

app = cdk.App()

# --- the lake: custom zones, their own lifecycles, a /20 network --------------------------
storage = cdk.Stack(app, "AcmeStorage", description="Network and data lake")
network = PrivateNetwork(
    storage,
    "Network",
    cidr="10.40.0.0/20",
    # What EMR and the notebook need in isolated subnets (each billed by the hour per AZ).
    interface_endpoints=["elasticmapreduce", "kms", "sts", "glue", "sagemaker.api"],
    flow_log_retention_days=90,
)
lake = SecureDataLake(
    storage,
    "Lake",
    zones=["landing", "curated", "features", "models"],
    lifecycle={
        "landing": ZoneLifecycle(expire_after_days=30, noncurrent_versions_expire_after_days=1),
        "curated": ZoneLifecycle(infrequent_access_after_days=60, glacier_after_days=365),
        "features": ZoneLifecycle(infrequent_access_after_days=30),
    },
    vpc_endpoint=network.s3_endpoint,
    exempt_role_name_prefixes=["acme-svc-"],
    log_retention_days=90,
)

# --- real time: provisioned shards sized from load, Parquet -----------------------------
ingest = cdk.Stack(app, "AcmeIngest", description="Clickstream into the landing zone")
alerts = AlertTopic(ingest, "Alerts", emails=["data-oncall@example.com"])
clicks = StreamingIngestion(
    ingest,
    "Clicks",
    lake=lake,
    zone="landing",
    prefix="clickstream",
    shard_count=shards_for(StreamLoad(write_mb_per_s=3, write_records_per_s=2_500)),
    retention_hours=72,
    record_format=RecordFormat.PARQUET,
    columns=[
        Column("event_id", "string"),
        Column("event_type", "string"),
        Column("event_time", "timestamp"),
        Column("ingested_at", "timestamp"),
        Column("page", "string", "the page the event happened on"),
        Column("basket", "struct<items:array<string>,total:decimal(12,2)>"),
    ],
    buffer_interval_seconds=120,
    buffer_size_mib=128,
    required_fields=["event_id", "event_type", "event_time", "page"],
    alerts=alerts,
    log_retention_days=90,
)

# --- analytics: a scheduled crawler, named queries, a bigger Spark job ------------------
analytics = cdk.Stack(app, "AcmeAnalytics", description="Catalog, curation and queries")
catalog = DataCatalog(
    analytics,
    "Catalog",
    lake=lake,
    database_name="acme_lake",
    crawls=[
        ZoneCrawl("landing", "clickstream/", schedule="cron(10 * * * ? *)"),
        ZoneCrawl("curated", "clickstream/", table_prefix="curated_"),
    ],
    results_zone="features",
    results_retention_days=7,
    bytes_scanned_cutoff=1024**3,
    named_queries=[
        *queries_for_curated_events("curated_clickstream"),
        NamedQuery(
            name="malformed-ids",
            description="Events whose id is not a 12-digit number",
            sql='SELECT * FROM "{database}"."curated_clickstream"\n'
            "WHERE NOT regexp_like(event_id, '^[0-9]{12}$') LIMIT 100",
        ),
    ],
)
curate = SparkEtlJob(
    analytics,
    "Curate",
    catalog=catalog,
    source_zone="landing",
    source_prefix="clickstream/",
    target_zone="curated",
    target_prefix="clickstream/",
    quarantine_zone="landing",
    quarantine_prefix="quarantine/clickstream/",
    worker_type="G.2X",
    number_of_workers=4,
    timeout_minutes=120,
    schedule="cron(30 3 * * ? *)",
)
EtlWorkflow(
    analytics,
    "Workflow",
    raw_crawler=catalog.crawlers["landing/clickstream/"],
    job=curate,
    curated_crawler=catalog.crawlers["curated/clickstream/"],
    alerts=AlertTopic(analytics, "Alerts"),
    key=lake.key,
    poll_seconds=30,
    timeout_hours=3,
)

# --- big data: EMR with a GPU task fleet ----------------------------------------------------
bigdata = cdk.Stack(app, "AcmeBigData", description="Spark on EMR with GPUs")
cluster = SparkCluster(
    bigdata,
    "Spark",
    lake=lake,
    network=network,
    release_label="emr-7.14.0",
    applications=["Spark", "Hadoop", "Livy"],
    task_types=[
        FleetType("m7i.2xlarge"),
        FleetType("m6i.2xlarge"),
        FleetType("r7i.2xlarge"),
        FleetType("m7i.4xlarge", 2),
    ],
    gpu_task_types=[FleetType("g5.2xlarge"), FleetType("g6.2xlarge"), FleetType("g5.4xlarge", 2)],
    gpu_spot_capacity=2,
    max_capacity_units=12,
    idle_timeout_seconds=1800,
    readable_zones=["landing", "curated"],
    writable_zones=["features"],
    glue_database_name="acme_lake",
)
cluster.add_spark_step(
    SparkStep(
        name="features",
        script="s3://acme-artifacts/jobs/features.py",
        arguments=["--date", "yesterday"],
    )
)

# --- serving: every training run recorded in a results table ------------------------------
serving = cdk.Stack(app, "AcmeServing", description="Results of the ML platform")
results = ResultsTable(serving, "Results", table_name="acme-ml-results", recovery_period_days=14)

# --- ML: distributed training on two p4d, GPU hosting; Inferentia for a Neuron model ------
ml = cdk.Stack(app, "AcmeMl", description="Training, notebooks and inference")
TrainingPipeline(
    ml,
    "Training",
    lake=lake,
    network=network,
    alerts=AlertTopic(ml, "Alerts"),
    training_instance_type="ml.p4d.24xlarge",
    training_instance_count=2,
    volume_size_gib=500,
    max_runtime_seconds=12 * 3600,
    hosting_instance_type="ml.g5.2xlarge",
    input_zone="features",
    input_prefix="training/clicks/",
    output_zone="models",
    hyperparameters={
        "epochs": "3",
        "learning_rate": "2e-5",
        "sagemaker_torch_distributed_enabled": "true",  # torchrun across both instances
    },
    results=results,
)
GpuNotebook(
    ml,
    "Notebook",
    lake=lake,
    network=network,
    instance_type="ml.g5.xlarge",
    idle_stop_minutes=30,
    readable_zones=["curated", "features"],
    writable_zones=["models"],
)
SageMakerEndpoint(
    ml,
    "Recommender",
    lake=lake,
    network=network,
    instance_type="ml.inf2.xlarge",
    image="763104351884.dkr.ecr.eu-west-1.amazonaws.com/huggingface-pytorch-inference-neuronx:"
    "2.8.0-transformers4.55.4-neuronx-py310-sdk2.26.0-ubuntu22.04",
    model_data_url="s3://acme-models/recommender/model.tar.gz",
    min_instances=2,
    max_instances=4,
    capture_zone="models",
    capture_percentage=5,
    endpoint_name="acme-recommender",
)

# --- governance: a budget, the audit trail ------------------------------------------------
governance = cdk.Stack(app, "AcmeGovernance", description="Cost and audit")
CostBudget(
    governance,
    "Budget",
    amount_usd=2_500,
    thresholds=BudgetThresholds(actual_percent=(50, 90), forecast_percent=(100,)),
    tags={"team": "ml"},
    emails=["finance@example.com"],
)
AuditTrail(
    governance,
    "Trail",
    data_event_buckets=list(lake.buckets.values()),
    data_events="WriteOnly",
    retention_days=3653,
)

# --- batch and device ingestion: devices, a database, exports, a batch job, a file share ----
sources = cdk.Stack(app, "AcmeSources", description="Devices, databases, files into the lake")
source_alerts = AlertTopic(sources, "Alerts", emails=["data-oncall@example.com"])
# Batch pulls its image and writes logs, DMS reads its secret: through endpoints, no NAT.
network.add_interface_endpoints(sources, ["ecr.api", "ecr.dkr", "logs", "secretsmanager"])
telemetry = StreamingIngestion(  # devices send no page: a stream with the default contract
    sources, "Telemetry", lake=lake, zone="landing", prefix="telemetry", alerts=source_alerts
)
DeviceIngestion(
    sources,
    "Sensors",
    stream=telemetry.stream,
    lake=lake,
    zone="landing",
    topic_root="plant/sensors",
    event_type="sensor.reading",
)
DatabaseReplication(
    sources,
    "Orders",
    source=MySqlSource(
        host="orders.db.acme.internal",
        database="shop",
        tables=("orders", "order_items"),
        secret=secretsmanager.Secret.from_secret_complete_arn(
            sources,
            "OrdersSecret",
            "arn:aws:secretsmanager:eu-west-1:111122223333:secret:acme/orders-dms-AbCdEf",
        ),
        peer_cidr="10.50.0.0/16",  # the database's network, peered with the lake's
    ),
    lake=lake,
    network=network,
    zone="landing",
    prefix="replicas/shop",
    max_capacity_units=8,
    alerts=source_alerts,
)
TableExport(
    sources,
    "ResultsExport",
    table=results.table,
    lake=lake,
    zone="landing",
    prefix="exports/results",
    schedule="cron(0 3 * * ? *)",
    alerts=source_alerts,
)
scorer = BatchJob(
    sources,
    "Scorer",
    image="111122223333.dkr.ecr.eu-west-1.amazonaws.com/acme/scorer:2026.11",
    lake=lake,
    network=network,
    zone="features",
    prefix="scores",
    vcpus=2,
    memory_mib=4096,
    schedule=None,  # started by the workflow below instead
    alerts=source_alerts,
)
# Your own workflow around the job: monitored and scheduled like the platform's.
weekly = MonitoredStateMachine(
    sources,
    "WeeklyScoring",
    definition=scorer.submit_task(sources, "Score"),
    description="Scores every customer once a week",
    alerts=source_alerts,
    key=lake.key,
    timeout=cdk.Duration.hours(3),
    log_retention_days=90,
    removal_policy=cdk.RemovalPolicy.RETAIN,
)
StateMachineSchedule(
    sources,
    "WeeklyScoringSchedule",
    state_machine=weekly.state_machine,
    expression="cron(0 5 ? * MON *)",
    description="Monday 05:00 UTC",
    alerts=source_alerts,
    removal_policy=cdk.RemovalPolicy.RETAIN,
)
OnPremisesSync(
    sources,
    "Archive",
    agent_arns=["arn:aws:datasync:eu-west-1:111122223333:agent/agent-0123456789abcdef0"],
    source=NfsShare(server="nas.acme.internal", path="/exports/archive"),
    lake=lake,
    zone="landing",
    prefix="archive",
    schedule="cron(0 1 * * ? *)",
    alerts=source_alerts,
)

# --- your own roles, granted what they need: no acknowledgment to write ---------------------
consumers = cdk.Stack(app, "AcmeConsumers", description="Roles of the applications")
producer = iam.Role(
    consumers, "Producer", assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com")
)
clicks.grant_write(producer)
analyst = ManagedPolicyRole(consumers, "Analyst", assumed_by=iam.AccountRootPrincipal())
catalog.grant_query(analyst, zones=["curated"])
lake.grant_read("features", analyst)
results.grant_read_results(analyst)
trainer = iam.Role(
    consumers, "FeatureWriter", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com")
)
lake.grant_write("features", trainer, "embeddings/*")

apply_rule_packs(app)
app.synth()
