"""dbt compatibility: read what a dbt project holds into our own project model.

``dbt_project.yml``, packages, dbt's Jinja context and its global macros live here, so the
engine below (project/, jinja/, graph/, run/) never branches on "is this dbt?".
"""
