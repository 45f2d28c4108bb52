"""Running nodes: the session, the runner, materializations, hooks, events, artifacts."""
