"""word statistics: PostgreSQL's planner knows how many photos each word has

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 07:00:00.000000

PostgreSQL keeps the 100 most common values of a column by default, and guesses the rest as equally rare. The
labels table has several hundred words, so a word outside the 100 ("paris": 50,000 photos of a million) was
guessed at 2,500, and a page of it sorted every one of its photos instead of walking the photos by date and
stopping at the page's last (134 ms, against 14). With a statistics target above the number of words, every
word's count is known. SQLite plans these queries from what search tells it (``db/spelling.py``): nothing to do.
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

#: Above the number of words a library has (the word heads' vocabulary and its places).
WORD_STATISTICS = 2000


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE photo_labels ALTER COLUMN word_id SET STATISTICS {WORD_STATISTICS}")
        op.execute("ANALYZE photo_labels")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE photo_labels ALTER COLUMN word_id SET STATISTICS -1")
