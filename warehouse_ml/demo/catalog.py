"""The demo shop's product catalog: 8 categories x 30 products, fixed for a seed."""

from __future__ import annotations

import dataclasses

import numpy as np
import pyarrow as pa

from warehouse_ml.demo import ids
from warehouse_ml.demo.affinity import Affinity, draw_affinity

CATEGORIES = ("apparel", "shoes", "electronics", "home", "beauty", "sports", "books", "toys")
_MEDIAN_PRICE = (32.0, 64.0, 110.0, 40.0, 24.0, 45.0, 18.0, 28.0)
_NOUNS = {
    "apparel": "Hoodie Tee Jacket Sweater Shirt Dress",
    "shoes": "Sneaker Boot Loafer Sandal Runner Slipper",
    "electronics": "Headphones Speaker Charger Watch Tablet Camera",
    "home": "Lamp Mug Throw Vase Pan Candle",
    "beauty": "Serum Balm Cleanser Mask Oil Cream",
    "sports": "Yoga Mat Bottle Band Racket Ball Glove",
    "books": "Novel Cookbook Atlas Journal Guide Memoir",
    "toys": "Puzzle Robot Kite Blocks Plush Train",
}
_ADJECTIVES = [
    "Classic",
    "Urban",
    "Everyday",
    "Premium",
    "Nordic",
    "Vintage",
    "Bold",
    "Soft",
    "Compact",
    "Eco",
]
PER_CATEGORY = 30


@dataclasses.dataclass(frozen=True)
class Catalog:
    """Products sorted by category, then by price (cheapest first) within a category."""

    category: np.ndarray  # category code per product
    price: np.ndarray
    start: np.ndarray  # first product index of each category
    count: np.ndarray  # products per category
    table: pa.Table  # product_id, name, category, price
    affinity: Affinity  # planted complements and rising products

    def choose(self, rng: np.random.Generator, cdf: np.ndarray, tier: np.ndarray) -> np.ndarray:
        """Products for buyers with category preference `cdf` (rows) and price `tier`.

        A tier below 1 skews the pick toward the pricier end of the category.
        """
        u = rng.random(len(tier))
        cat = np.minimum((u[:, None] > cdf).sum(axis=1), len(self.start) - 1)
        pos = np.floor(rng.random(len(tier)) ** tier * self.count[cat]).astype(np.int64)
        return self.start[cat] + np.minimum(pos, self.count[cat] - 1)


def build_catalog(rng: np.random.Generator) -> Catalog:
    """Draw the catalog: log-normal prices around each category's median, ending in .99."""
    k = len(CATEGORIES)
    category = np.repeat(np.arange(k), PER_CATEGORY)
    raw = np.asarray(_MEDIAN_PRICE)[category] * np.exp(0.35 * rng.standard_normal(len(category)))
    price = np.maximum(np.floor(raw), 2.0) + 0.99
    order = np.lexsort((price, category))
    category, price = category[order], np.round(price[order], 2)
    codes = rng.permutation(len(category)) + 1001  # ids do not reveal the price order
    adjective = rng.integers(0, len(_ADJECTIVES), len(category))
    noun_lists = [_NOUNS[c].split() for c in CATEGORIES]
    noun = [noun_lists[c][i % len(noun_lists[c])] for i, c in enumerate(category)]
    names = [
        f"{_ADJECTIVES[a]} {w} {code}" for a, w, code in zip(adjective, noun, codes, strict=True)
    ]
    table = pa.table(
        {
            "product_id": ids.join("P", ids.dec_text(codes)),
            "name": pa.array(names, pa.string()),
            "category": ids.pick(CATEGORIES, category),
            "price": pa.array(price, pa.float64()),
        }
    )
    start, count = np.arange(k) * PER_CATEGORY, np.full(k, PER_CATEGORY)
    return Catalog(
        category=category,
        price=price,
        start=start,
        count=count,
        table=table,
        affinity=draw_affinity(rng, category, start, count),  # drawn last: the rest is as before
    )
