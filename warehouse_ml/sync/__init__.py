"""Reverse-ETL syncs: a relation's rows out to files, webhooks, Segment and PostgreSQL.

``diff.py`` computes what changed since the last acknowledged delivery, ``state.py``
keeps that state and the run log in schema ``wml``, ``destinations/`` holds one module
per destination type, and ``runner.py`` runs a sync (``wml sync``, ``wml build --sync``).
"""
