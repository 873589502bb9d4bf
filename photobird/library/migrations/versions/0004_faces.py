"""faces: analyzers after recognition with their own versions, faces, people and the user's face decisions

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 18:00:00.000000

New tables only (nothing existing is rebuilt): ``photo_analyses`` records which version of a later analyzer
analysed a photo; ``faces`` holds what the face analyzer found; ``people`` groups faces; ``face_decisions`` keeps
what the user said about a face by content hash and box, so it outlives re-detection and moves.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _box() -> list[sa.Column]:
    return [sa.Column(side, sa.Float(), nullable=False) for side in ("left", "top", "right", "bottom")]


def upgrade() -> None:
    op.create_table(
        "photo_analyses",
        sa.Column("photo_id", sa.Integer(), sa.ForeignKey("photos.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("analyzer", sa.String(length=16), primary_key=True),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("analysed_at", sa.DateTime(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
    )
    op.create_index("ix_photo_analyses_analyzer_version", "photo_analyses", ["analyzer", "version"])
    op.create_table(
        "people",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_people_name", "people", ["name"])
    op.create_table(
        "faces",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("photo_id", sa.Integer(), sa.ForeignKey("photos.id", ondelete="CASCADE"), nullable=False),
        *_box(),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("descriptor", sa.LargeBinary(), nullable=False),
        sa.Column("person_id", sa.Integer(), sa.ForeignKey("people.id", ondelete="SET NULL"), nullable=True),
        sa.Column("assignment", sa.String(length=8), nullable=False),
    )
    op.create_index("ix_faces_photo_id", "faces", ["photo_id"])
    op.create_index("ix_faces_person_id", "faces", ["person_id"])
    op.create_table(
        "face_decisions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        *_box(),
        sa.Column("person_id", sa.Integer(), sa.ForeignKey("people.id", ondelete="CASCADE"), nullable=False),
        sa.Column("verdict", sa.String(length=8), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_face_decisions_content_hash", "face_decisions", ["content_hash"])
    op.create_index("ix_face_decisions_person_id", "face_decisions", ["person_id"])


def downgrade() -> None:
    op.drop_table("face_decisions")
    op.drop_table("faces")
    op.drop_table("people")
    op.drop_table("photo_analyses")
