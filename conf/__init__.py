# The Hydra configs of harness-train and harness-plan. This folder is the package `harness.conf`
# (pyproject.toml maps it, and a wheel ships its *.yaml as package data), so an installed harness
# finds its configs as pkg://harness.conf wherever it runs. Nothing to import here.
