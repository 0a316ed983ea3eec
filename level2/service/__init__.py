"""Level 2 serving: the BentoML fraud-scoring service and its parts.

- :mod:`level2.service.service`: the ``@bentoml.service`` class ``FraudDetector`` (endpoints and
  configuration are documented there);
- :mod:`level2.service.champion`: following ``@champion`` in the registry, hot swap;
- :mod:`level2.service.batcher`: adaptive micro-batching of single requests;
- :mod:`level2.service.metrics`: the service's Prometheus metrics;
- :mod:`level2.service.http`: the request body limit and JSON errors;
- :mod:`level2.service.settings`: environment variables and their defaults.

Importing this package imports nothing heavy; BentoML imports ``level2.service.service``.
"""
