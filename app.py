#!/usr/bin/env python3
"""The CDK app (run by `cdk synth`, see cdk.json): every stack, with the compliance packs."""

from ml_blueprints.toolchain import use_supported_node

use_supported_node()  # before aws_cdk starts jsii

from ml_blueprints.app import build_app  # noqa: E402

app, _settings = build_app()
app.synth()
