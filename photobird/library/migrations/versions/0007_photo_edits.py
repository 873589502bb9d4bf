"""photo edits: how the user turned a picture, by content hash, like their labels

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 01:00:00.000000

A new table only: a rotation (R / Shift+R in the viewer) belongs to the picture, not the file, so it survives
moves, renames, re-indexing and the photo leaving the library and coming back.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "photo_edits",
        sa.Column("content_hash", sa.String(length=64), primary_key=True),
        sa.Column("rotation", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("photo_edits")
