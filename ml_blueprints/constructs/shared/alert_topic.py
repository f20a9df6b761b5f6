"""AlertTopic: an encrypted SNS topic that CloudWatch alarms and EventBridge can publish to.

Every layer's alarms and failure notifications go to one of these. An alarm without an
action is a finding in HIPAA, NIST 800-53 and PCI DSS, and an unencrypted topic is one in
AWS Solutions; CloudWatch cannot publish to a topic encrypted with the AWS-managed SNS key,
so the topic has a customer-managed key whose policy lets CloudWatch and EventBridge use it.
"""

from __future__ import annotations

from collections.abc import Sequence

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from ml_blueprints.validation import PropErrors, typed_props

#: Services that publish notifications to the topic and so must be able to use its key.
PUBLISHERS: tuple[str, ...] = ("cloudwatch.amazonaws.com", "events.amazonaws.com")


class AlertTopic(Construct):
    """An SNS topic for alarms, KMS-encrypted with its own rotating key, TLS-only.

    Defaults: no subscriptions (add e-mail addresses with ``emails`` or subscribe later);
    ``publishers``: CloudWatch alarms and EventBridge (:data:`PUBLISHERS`), the services whose
    use of the key is allowed (for this account only); ``key``: a new key with rotation (give
    one to share a key within the same trust boundary: the publishers' statement is added to
    its policy); ``removal_policy`` RETAIN for a new key. Attributes: ``topic``, ``key``.
    """

    @typed_props
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        emails: Sequence[str] = (),
        publishers: Sequence[str] = PUBLISHERS,
        key: kms.IKey | None = None,
        removal_policy: cdk.RemovalPolicy = cdk.RemovalPolicy.RETAIN,
    ) -> None:
        super().__init__(scope, id)
        errors = PropErrors("AlertTopic")
        for service in publishers:
            errors.require(
                isinstance(service, str) and service.endswith(".amazonaws.com"),
                "publishers",
                service,
                "AWS service principals such as cloudwatch.amazonaws.com",
            )
        for email in emails:
            errors.require(
                isinstance(email, str) and email.count("@") == 1 and "." in email.split("@")[1],
                "emails",
                email,
                "e-mail addresses such as ops@example.com",
            )
        errors.raise_if_any()

        self.key: kms.IKey = key or kms.Key(
            self,
            "Key",
            description=f"Encrypts the alert topic {self.node.path}",
            enable_key_rotation=True,
            removal_policy=removal_policy,
            pending_window=cdk.Duration.days(7)
            if removal_policy == cdk.RemovalPolicy.DESTROY
            else None,
        )
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                # A shared key may serve several topics: one statement each, named apart.
                sid="AllowAlarmPublishers"
                if key is None
                else f"AllowPublishersOf{cdk.Names.unique_id(self)}"[:100],
                principals=[iam.ServicePrincipal(service) for service in publishers],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
                conditions={"StringEquals": {"aws:SourceAccount": cdk.Aws.ACCOUNT_ID}},
            )
        )
        self.topic = sns.Topic(self, "Topic", master_key=self.key, enforce_ssl=True)
        for email in emails:
            self.topic.add_subscription(subscriptions.EmailSubscription(email))

    @typed_props
    def notify_task(self, scope: Construct, subject: str) -> tasks.SnsPublish:
        """A Step Functions task ``NotifyFailure`` in ``scope`` publishing the execution, its
        state machine and the error at ``$.error`` to the topic (retried 3 times)."""
        notify = tasks.SnsPublish(
            scope,
            "NotifyFailure",
            topic=self.topic,
            subject=subject,
            message=sfn.TaskInput.from_object(
                {
                    "execution": sfn.JsonPath.execution_id,
                    "stateMachine": sfn.JsonPath.state_machine_name,
                    "error": sfn.JsonPath.string_at("$.error.Error"),
                    "cause": sfn.JsonPath.string_at("$.error.Cause"),
                }
            ),
            result_path=sfn.JsonPath.DISCARD,
        )
        notify.add_retry(interval=cdk.Duration.seconds(5), max_attempts=3, backoff_rate=2)
        return notify

    @typed_props
    def notify_on(self, *alarms: cloudwatch.Alarm) -> None:
        """Send the state changes of ``alarms`` (into ALARM and back to OK) to the topic."""
        action = cloudwatch_actions.SnsAction(self.topic)
        for alarm in alarms:
            alarm.add_alarm_action(action)
            alarm.add_ok_action(action)
