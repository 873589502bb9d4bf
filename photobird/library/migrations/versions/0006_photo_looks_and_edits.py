"""photo looks and edits: each photo's perceptual hashes (duplicates, similar photos) and the user's rotations

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 00:00:00.000000

New tables only. ``photo_looks``: photos indexed before it have no row; the looks analyzer
(``library.looks_analysis``) fills it in once, at a small decode, and the index writes it for every photo from
then on. ``photo_edits``: how the user turned a picture, by content hash, like their labels.
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
    op.create_table(
        "photo_edits",
        sa.Column("content_hash", sa.String(length=64), primary_key=True),
        sa.Column("rotation", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("photo_edits")
    op.drop_table("photo_looks")
