"""The analytics layer: Glue catalog and crawlers, Athena, the Spark ETL job, its workflow."""

from ml_blueprints.constructs.analytics.data_catalog import (
    DataCatalog,
    NamedQuery,
    ZoneCrawl,
    queries_for_curated_events,
)
from ml_blueprints.constructs.analytics.etl_workflow import EtlWorkflow
from ml_blueprints.constructs.analytics.spark_etl_job import SparkEtlJob

__all__ = [
    "DataCatalog",
    "EtlWorkflow",
    "NamedQuery",
    "SparkEtlJob",
    "ZoneCrawl",
    "queries_for_curated_events",
]
