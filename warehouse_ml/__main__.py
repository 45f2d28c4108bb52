"""``python -m warehouse_ml`` runs the ``wml`` command line."""

from warehouse_ml.cli.main import main

main()
