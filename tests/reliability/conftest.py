"""Fixtures of the service-side reliability tests: the service tests' registry and launcher.

The same real parts as ``tests/service``: a registry with two small registered models, and
``fraudops serve`` processes started on free ports, each in its own state directory per module.
"""

from tests.service.conftest import launch, models, state_dir  # noqa: F401 (fixtures)
