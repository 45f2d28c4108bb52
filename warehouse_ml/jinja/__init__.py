"""Rendering models: the Jinja environment, its context, macros and their errors."""
