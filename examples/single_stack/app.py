"""The real-time and analytics layers in one stack of your own.

Events land in the raw zone through Kinesis and Firehose, a Glue crawler catalogues them, the
Spark job curates them and Athena queries them. In the lake's own stack the service roles are
exempted from the VPC-endpoint restriction by ARN, so no role names are needed.

    python examples/single_stack/app.py   # or `cdk synth` with "app": "python app.py"
"""

import aws_cdk as cdk
from aws_cdk import aws_iam as iam

from ml_blueprints.compliance import apply_rule_packs
from ml_blueprints.constructs import (
    AlertTopic,
    DataCatalog,
    EtlWorkflow,
    PrivateNetwork,
    SecureDataLake,
    SparkEtlJob,
    StreamingIngestion,
    ZoneCrawl,
    queries_for_curated_events,
)

app = cdk.App()
stack = cdk.Stack(app, "EventsPlatform", description="Events in, curated tables out")

network = PrivateNetwork(stack, "Network")
lake = SecureDataLake(stack, "Lake", vpc_endpoint=network.s3_endpoint)
alerts = AlertTopic(stack, "Alerts", emails=["data-oncall@example.com"])

ingestion = StreamingIngestion(stack, "Events", lake=lake, vpc=network.vpc, alerts=alerts)
catalog = DataCatalog(
    stack,
    "Catalog",
    lake=lake,
    database_name="events_lake",
    crawls=[ZoneCrawl("raw", "events/"), ZoneCrawl("curated", "events/")],
    named_queries=queries_for_curated_events("curated_events"),
)
job = SparkEtlJob(stack, "Curate", catalog=catalog)
EtlWorkflow(
    stack,
    "Workflow",
    raw_crawler=catalog.crawlers["raw/events/"],
    job=job,
    curated_crawler=catalog.crawlers["curated/events/"],
    alerts=alerts,
    key=lake.key,
)

# Your own roles: a producer writing events and an analyst querying them. The grants list
# exact actions and acknowledge what they cannot avoid: nothing to acknowledge here.
producer = iam.Role(stack, "Producer", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
ingestion.grant_write(producer)
analyst = iam.Role(stack, "Analyst", assumed_by=iam.AccountRootPrincipal())
catalog.grant_query(analyst, zones=["curated"])

apply_rule_packs(app)
app.synth()
