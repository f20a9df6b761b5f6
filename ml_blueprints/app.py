"""Builds the whole CDK app: every stack, tags, and the compliance rule packs.

``app.py`` at the repository root calls :func:`build_app` for the CDK CLI; the test suite
calls it too, so tests check exactly what ``cdk synth`` produces.
"""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk

from ml_blueprints.compliance import apply_rule_packs
from ml_blueprints.config import Settings, settings_from_context
from ml_blueprints.stacks import (
    AnalyticsStack,
    DataLakeStack,
    EmrStack,
    GovernanceStack,
    IngestionStack,
    MlStack,
    RealTimeStack,
    ServingStack,
)
from ml_blueprints.tagging import tag_everything


def build_app(
    context: dict[str, Any] | None = None, outdir: str | None = None
) -> tuple[cdk.App, Settings]:
    """Create the app with every stack and the rule packs; returns it with its settings."""
    app = cdk.App(context=context, outdir=outdir)
    settings = settings_from_context(app.node)
    data_lake = DataLakeStack(app, "DataLake", settings=settings)
    real_time = RealTimeStack(app, "RealTime", settings=settings, data_lake=data_lake)
    analytics = AnalyticsStack(app, "Analytics", settings=settings, data_lake=data_lake)
    serving = ServingStack(
        app, "Serving", settings=settings, data_lake=data_lake, analytics=analytics
    )
    MlStack(app, "Ml", settings=settings, data_lake=data_lake, serving=serving)
    if settings.emr:
        EmrStack(app, "Emr", settings=settings, data_lake=data_lake)
    if settings.governance:
        GovernanceStack(app, "Governance", settings=settings, data_lake=data_lake)
    IngestionStack(
        app,
        "Ingestion",
        settings=settings,
        data_lake=data_lake,
        real_time=real_time,
        serving=serving,
    )
    tag_everything(app, settings.tags)
    apply_rule_packs(app)
    return app, settings
