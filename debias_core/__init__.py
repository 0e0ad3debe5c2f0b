"""Debias Studio core engine: find biased groups, generate counterfactuals, curate, train, evaluate.

Importing this package has no side effects: no model loading, seeding, argv parsing or network.
"""

__version__ = "0.1.0"
