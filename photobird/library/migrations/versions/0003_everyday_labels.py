"""everyday labels: word kinds and hidden words, the labeller that wrote a photo's labels, its place

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 12:00:00.000000

Words now come from several sources (the ImageNet classes and their ancestors, the everyday heads for objects and
scenes, the gazetteer for places): ``words.kind`` says which, and ``words.hidden`` marks generic ancestors that
stay searchable but are never shown. ``photos.labels_key`` records which labeller wrote a photo's labels, so a
new one re-labels the library from stored embeddings (no photo decoded); ``photos.place`` is the place name shown
in the viewer.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # plain ADD COLUMN (no table rebuild: the name index's triggers on photos stay in place)
    op.add_column("words", sa.Column("kind", sa.String(length=16), nullable=False, server_default="thing"))
    op.add_column("words", sa.Column("hidden", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column("photos", sa.Column("labels_key", sa.String(length=64), nullable=True))
    op.add_column("photos", sa.Column("place", sa.String(), nullable=True))
    op.create_index("ix_photos_labels_key", "photos", ["labels_key"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_photos_labels_key", table_name="photos")
    op.drop_column("photos", "place")
    op.drop_column("photos", "labels_key")
    op.drop_column("words", "hidden")
    op.drop_column("words", "kind")
