"""search indexes: photos by date taken, covering label and bird-score indexes, trigram index on names

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 10:30:00.000000

Search shows the first page of results before it has counted the rest, so every way into the photos it walks
must come in the order it shows: photos by (state, date taken newest first, id); a word's photos by probability
and a model's photos by score, with the photo id in the index so the walk never reads the table. File and
folder names get an FTS5 trigram index (``photo_names``, external content, kept by triggers) so a search for a
rare part of a name reads only the photos that contain it. Where SQLite was built without FTS5 the table is
skipped and search falls back to checking each name. On PostgreSQL the same job is done by GIN trigram indexes
(the pg_trgm extension, shipped with the server) on ``photos.name`` and ``photos.dir``, which the server keeps
in step by itself.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

NAMES = "photo_names"
#: PostgreSQL's trigram indexes, by column (``schema.NAME_TRIGRAM_INDEXES``).
TRIGRAM_INDEXES = {"name": "ix_photos_name_trgm", "dir": "ix_photos_dir_trgm"}
NAME_TRIGGERS = {
    "photos_names_insert": f"""
        CREATE TRIGGER photos_names_insert AFTER INSERT ON photos BEGIN
            INSERT INTO {NAMES}(rowid, name, dir) VALUES (new.id, new.name, new.dir);
        END""",
    "photos_names_delete": f"""
        CREATE TRIGGER photos_names_delete AFTER DELETE ON photos BEGIN
            INSERT INTO {NAMES}({NAMES}, rowid, name, dir) VALUES ('delete', old.id, old.name, old.dir);
        END""",
    "photos_names_update": f"""
        CREATE TRIGGER photos_names_update AFTER UPDATE OF id, name, dir ON photos BEGIN
            INSERT INTO {NAMES}({NAMES}, rowid, name, dir) VALUES ('delete', old.id, old.name, old.dir);
            INSERT INTO {NAMES}(rowid, name, dir) VALUES (new.id, new.name, new.dir);
        END""",
}


def _postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def _has_trigram_fts5() -> bool:
    """FTS5 is compiled in (it nearly always is) and has the trigram tokenizer (SQLite 3.34+)."""
    conn = op.get_bind()
    version = tuple(int(x) for x in conn.exec_driver_sql("SELECT sqlite_version()").scalar().split("."))
    modules = {row[0] for row in conn.exec_driver_sql("PRAGMA module_list")}
    return version >= (3, 34) and "fts5" in modules


def upgrade() -> None:
    # undated photos last, as search shows them: SQLite sorts NULL lowest, PostgreSQL highest unless told
    newest = "taken_at DESC NULLS LAST" if _postgresql() else "taken_at DESC"
    op.create_index("ix_photos_state_taken", "photos", ["state", sa.text(newest), "id"], unique=False)
    op.drop_index("ix_photo_labels_word_p", table_name="photo_labels")
    op.create_index("ix_photo_labels_word_p_photo", "photo_labels", ["word_id", "p", "photo_id"], unique=False)
    op.drop_index("ix_bird_scores_model_score", table_name="bird_scores")
    op.create_index("ix_bird_scores_model_score_photo", "bird_scores", ["model_id", "score", "photo_id"], unique=False)
    if _postgresql():
        # a trusted extension (PostgreSQL 13+): the database's owner may create it, no superuser needed
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        for column, index in TRIGRAM_INDEXES.items():
            op.create_index(index, "photos", [column], postgresql_using="gin", postgresql_ops={column: "gin_trgm_ops"})
    elif _has_trigram_fts5():
        op.execute(
            f"CREATE VIRTUAL TABLE {NAMES} USING fts5(name, dir, content='photos', content_rowid='id', "
            "tokenize='trigram')"
        )
        op.execute(f"INSERT INTO {NAMES}({NAMES}) VALUES ('rebuild')")
        for sql in NAME_TRIGGERS.values():
            op.execute(sql)


def downgrade() -> None:
    if _postgresql():
        for index in TRIGRAM_INDEXES.values():
            op.drop_index(index, table_name="photos")
    else:
        for name in NAME_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute(f"DROP TABLE IF EXISTS {NAMES}")
    op.drop_index("ix_bird_scores_model_score_photo", table_name="bird_scores")
    op.create_index("ix_bird_scores_model_score", "bird_scores", ["model_id", "score"], unique=False)
    op.drop_index("ix_photo_labels_word_p_photo", table_name="photo_labels")
    op.create_index("ix_photo_labels_word_p", "photo_labels", ["word_id", "p"], unique=False)
    op.drop_index("ix_photos_state_taken", table_name="photos")
