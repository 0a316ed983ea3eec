"""Level 2: CI/CD (the BentoML service, demo, retraining trigger, traffic simulator)."""

# First, before the service or the demo imports scikit-learn or LightGBM: importing fraudops sets
# the OpenMP wait policy, which the runtime reads only when it loads (fraudops/__init__.py).
import fraudops  # noqa: F401
