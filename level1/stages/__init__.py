"""The stages of the Level 1 pipeline, one module each, in the order ``dvc.yaml`` runs them.

``ingest -> validate -> split -> train_custom, train_automl -> evaluate -> register``

Every stage module has a typed dataclass for its section of ``params.yaml``, a pure core
function (DataFrames and parameters in, results out) and a thin ``main()`` whose path arguments
are exactly the ``deps`` and ``outs`` that ``dvc.yaml`` declares for it. DVC runs each one as
``python -m level1.stages.NAME ...`` from the project root.
"""
