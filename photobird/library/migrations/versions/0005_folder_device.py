"""offline folders: the file system a watched folder was on when its photos were last seen

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 09:00:00.000000

``folders.device`` is the folder's ``st_dev`` when it was added or a scan last found photos in it. A drive that
is unmounted leaves its mount point behind as an empty folder on another file system; comparing the two tells an
offline folder (its photos kept, shown as offline) from one the user emptied (its photos gone). Empty for the
folders of an older catalogue until the next scan that finds photos in them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # plain ADD COLUMN (no table rebuild)
    op.add_column("folders", sa.Column("device", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    op.drop_column("folders", "device")
