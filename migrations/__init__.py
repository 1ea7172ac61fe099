"""lrsearch's Alembic scripts, shipped in the wheel as the package ``lrsearch.migrations``.

The folder is ``migrations/`` at the top of the repository (pyproject's package-dir maps it);
``lrsearch.store.migrate`` finds it and is the only way these scripts are run.
"""
