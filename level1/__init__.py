"""Level 1: continuous training (the DVC pipeline's stages, the CT trigger, the registry)."""

# First, before any stage imports scikit-learn or LightGBM: importing fraudops sets the OpenMP
# wait policy, which the runtime reads only when it loads (fraudops/__init__.py says why).
import fraudops  # noqa: F401
