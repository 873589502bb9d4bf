"""photo looks: each photo's perceptual hashes, for duplicates and similar photos

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 00:00:00.000000

A new table only. Photos indexed before it have no row; the looks analyzer (``library.looks_analysis``) fills it
in once, at a small decode, and the index writes it for every photo from then on.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "photo_looks",
        sa.Column("photo_id", sa.Integer(), sa.ForeignKey("photos.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("hashes", sa.LargeBinary(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("photo_looks")
