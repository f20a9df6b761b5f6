"""``ml-blueprints cost``: the cost class of every resource of a synthesized app, its idle
cost per stack from a shipped us-east-1 price table (``prices.toml``, each entry with its
source and date), and the price of each resource billed while it runs.

    from ml_blueprints.cost import estimate, markdown
    print(markdown(estimate(Path("cdk.out"))))
"""

from ml_blueprints.cost.estimate import CostReport, ResourceCost, StackCost, estimate
from ml_blueprints.cost.render import as_json, markdown, usd
from ml_blueprints.cost.tables import CostClass, Price, class_table, price_table

__all__ = [
    "CostClass",
    "CostReport",
    "Price",
    "ResourceCost",
    "StackCost",
    "as_json",
    "class_table",
    "estimate",
    "markdown",
    "price_table",
    "usd",
]
