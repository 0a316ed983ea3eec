"""fraudops: the library every maturity level imports.

Data generation and validation, features, splits, models, metrics, the registry and monitoring
live here once; the levels (``level0/``, ``level1/``, ``level2/``) only add orchestration.
"""

__version__ = "0.1.0"
