"""Demo data: a deterministic Segment e-commerce generator with learnable signal.

See `warehouse_ml.demo.generator` for the tables, the latent model and the ground truth.
"""

from __future__ import annotations

from warehouse_ml.demo.generator import (
    BLOCK_PROFILES,
    DEFAULT_END,
    TABLE_NAMES,
    DemoData,
    Truth,
    generate,
    iter_chunks,
    shop_catalog,
    write_csv,
    write_demo,
    write_parquet,
)

__all__ = [
    "BLOCK_PROFILES",
    "DEFAULT_END",
    "TABLE_NAMES",
    "DemoData",
    "Truth",
    "generate",
    "iter_chunks",
    "shop_catalog",
    "write_csv",
    "write_demo",
    "write_parquet",
]
