"""Tree ensembles compiled to C and served exactly (float64); see README.md."""
