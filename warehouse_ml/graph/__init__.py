"""The DAG of nodes and the `--select` language over it."""
