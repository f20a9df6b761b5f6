"""The big-data layer: an EMR Spark cluster with on-demand core and spot task fleets."""

from ml_blueprints.constructs.bigdata.spark_cluster import FleetType, SparkCluster, SparkStep

__all__ = ["FleetType", "SparkCluster", "SparkStep"]
