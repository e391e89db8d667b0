"""Per-size learning-rate tuning (issue 12): fit a tuning sweep's loss against log(lr) per shape,
the power law lr*(N) across shapes, write a hyperparameter preset, and flag the runs of other
sweeps whose rates sit off the tuned rule (``harness-tune``, ``harness-fit --tuning``,
``harness-plan plan.tuning=``)."""
