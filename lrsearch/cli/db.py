"""``lrsearch db upgrade``."""

from __future__ import annotations

from lrsearch.cli.app import StorageOption, command_settings, db_app


@db_app.command("upgrade")
def db_upgrade(storage: StorageOption = None) -> None:
    """Create or upgrade Optuna's and lrsearch's tables to the current schema."""
    from lrsearch.store import upgrade

    before, after = upgrade(command_settings(storage).storage_url)
    print(f"lrsearch schema: {before or 'empty'} -> {after}; Optuna schema: current")
