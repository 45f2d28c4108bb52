"""warehouse-ml: dbt-style SQL models and machine learning inside the warehouse.

The public Python API is small: :func:`connect` opens the project's DuckDB database with
every deployed model's ``predict_*`` functions registered.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__", "connect"]


def connect(project_dir: str = ".", target: str | None = None, profiles_dir: str | None = None):
    """Open the project's DuckDB database with all deployed models' functions registered.

    Args:
        project_dir: the project folder (with profiles.yml or wml_project.yml).
        target: the profiles.yml output to use; the profile's default when None.
        profiles_dir: where profiles.yml lives; looked up as the CLI does when None.

    Returns:
        A ``duckdb.DuckDBPyConnection``; ``SELECT predict_ltv(a, b) FROM traits`` works on it.
    """
    from warehouse_ml.run.session import open_session

    return open_session(project_dir, target=target, profiles_dir=profiles_dir).connection()
