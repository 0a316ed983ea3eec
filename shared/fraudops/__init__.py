"""fraudops: the library every maturity level imports.

Data generation and validation, features, splits, models, metrics, the registry and monitoring
live here once; the levels (``level0/``, ``level1/``, ``level2/``) only add orchestration.

Importing the package does one thing besides defining names: it sets the OpenMP wait policy
default (:data:`OMP_WAIT_POLICY`) in ``os.environ``, the one setting that has to be in place
before scikit-learn or LightGBM is imported, and is then inherited by every process started from
here (``dvc repro``, the BentoML server, the pipeline stages).
"""

import os as _os

__version__ = "0.1.0"

#: How idle OpenMP threads wait for work: ``PASSIVE`` makes them sleep at once instead of
#: spinning. LightGBM, scikit-learn's HistGradientBoosting and FLAML's learners run many short
#: OpenMP regions per tree, and between two of them libgomp's default keeps every worker thread
#: spinning for ``GOMP_SPINCOUNT`` = 300,000 turns (about 4 ms measured here per idle gap), on a
#: core that another process may be waiting for. Measured on 2 cores (issue #13, item 7): a
#: LightGBM fit of 200,000 x 30 rows, 150 trees, took 4.1 s alone, 12.5 s beside one busy process
#: and 7.2 s beside it with ``PASSIVE``; a tried full-size demo on a loaded machine spent 314 s in
#: ``train_custom`` (49 s quiet, ``benchmarks/results/pipeline.md``). The price is paid alone:
#: each region then starts with a wake-up, and a small fit (50,000 x 30 rows, 150 trees) took
#: 1.7 s instead of 0.54 s on a quiet machine (generator figure 1.81 s), against 1.0 s instead of
#: 1.5 s beside a busy process. ``python -m benchmarks contention`` measures ``train_custom``
#: itself in all four cases.
#:
#: libgomp reads the variable once, when the runtime is loaded (``import sklearn`` or
#: ``import lightgbm``), so setting it later does nothing: that is why it is set here, on the
#: import every entry point makes first (the stages, scripts, CLI and service all import
#: ``fraudops`` before scikit-learn; ``level1`` and ``level2`` import it in their ``__init__``).
#: A value the user has set (``OMP_WAIT_POLICY=ACTIVE``, or ``GOMP_SPINCOUNT``) is kept. The
#: Makefile, ``level2/bentofile.yaml`` and the workflows put the same value in the environment
#: of the processes they start, which covers tools that load OpenMP before any ``fraudops``
#: import (``mlflow models serve`` unpickling a model); ``tests/unit/test_openmp.py`` checks
#: every entry point's runtime.
OMP_WAIT_POLICY = "PASSIVE"
_os.environ.setdefault("OMP_WAIT_POLICY", OMP_WAIT_POLICY)
