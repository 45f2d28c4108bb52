"""The `wml` command line: one module per command group."""
