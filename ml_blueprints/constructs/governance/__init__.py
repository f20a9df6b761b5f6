"""The governance layer: a monthly cost budget and the CloudTrail audit trail."""

from ml_blueprints.constructs.governance.audit_trail import AuditTrail
from ml_blueprints.constructs.governance.cost_budget import BudgetThresholds, CostBudget

__all__ = ["AuditTrail", "BudgetThresholds", "CostBudget"]
