"""Index lr_trials by (search_id, trial_number): the API pages a study's trials by number.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_lr_trials_search_number", "lr_trials", ["search_id", "trial_number"])


def downgrade() -> None:
    op.drop_index("ix_lr_trials_search_number", table_name="lr_trials")
