"""The docs site: lineage, a page per node and model cards (see README.md)."""
