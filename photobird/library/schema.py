"""The catalogue's tables (SQLAlchemy 2 typed ORM). Changes go through an Alembic migration in migrations/.

What belongs to what:

- A **photo** row is a file at a path. It keeps its id when the file is moved or renamed (matched by content
  hash), so its results move with it.
- **User labels** belong to the picture, not the file: they are keyed by content hash, so they survive moves,
  renames, deletion and re-adding, and a duplicate copy shares its original's label.
- **Embeddings** and **labels** (searchable words) come from one *embedder* (the backbone + CIFAR network
  pair, identified by their weights' hashes); **bird scores** come from one *model version* (a bird head).
  Re-scoring the library with a new head adds rows for that version and never touches an image.
- Recognition is the first analyzer: a photo is *indexed* once the embedder has seen it (``photos.embedder_id``
  says which). Every later analyzer (faces, and what comes next) records in ``photo_analyses`` which version of
  it analysed a photo, and keeps its results in its own tables (``faces``), so adding or upgrading one runs only
  that one over the library.
- **People** are groups of faces. What the user decides about faces (this face is Anna, this one is not Bob) is
  a **face decision** keyed by content hash and the face's place in the picture, so it survives re-detection,
  moves, renames and re-adding, and always wins over automatic grouping.

The indexes are shaped for search (``photobird.library.search``): each ranked way into the photos can be walked
in the order results are shown and stopped after a page (photos by date taken, newest first; a word's photos by
probability, then date taken; a model's bird scores by score). Besides these tables, migration 0002 adds
``photo_names`` (``NAMES_TABLE``), an SQLite FTS5 trigram index over ``photos.name`` and ``photos.dir`` kept in
step by triggers, so a search for part of a file or folder name does not read every row; on PostgreSQL, GIN
trigram indexes on the two columns (``NAME_TRIGRAM_INDEXES``, pg_trgm) do the same.
"""

from __future__ import annotations

import datetime as dt
import enum
import os
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class FsPath(TypeDecorator[str]):
    """A file system path stored losslessly, whatever its encoding.

    Linux file names are bytes; one that is not valid UTF-8 becomes a ``str`` with surrogate escapes in
    Python, which SQLite's text type cannot hold. Stored as the exact bytes and read back as the same ``str``.
    """

    impl = LargeBinary
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Any) -> bytes | None:
        return None if value is None else os.fsencode(value)

    def process_result_value(self, value: bytes | None, dialect: Any) -> str | None:
        return None if value is None else os.fsdecode(value)


#: A whole number that outgrows 32 bits (a file's size, its modification time in nanoseconds): BIGINT where
#: INTEGER is 32 bits (PostgreSQL); SQLite's INTEGER already holds 64.
BigCount = Integer().with_variant(BigInteger(), "postgresql")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


#: The trigram index on photo names (FTS5, made by migration 0002, kept in step with ``photos`` by triggers).
#: Not mapped here; it and its shadow tables (``photo_names_data``...) are left out of Alembic's comparisons.
NAMES_TABLE = "photo_names"


#: The same on PostgreSQL: GIN trigram indexes (pg_trgm's ``gin_trgm_ops``, made by migration 0002), which the
#: metadata cannot declare for both engines; left out of Alembic's comparisons too.
NAME_TRIGRAM_INDEXES = ("ix_photos_name_trgm", "ix_photos_dir_trgm")


def compared_by_alembic(name: str | None, type_: str, parent_names: Any) -> bool:
    """Alembic's ``include_name``: everything but the name index's tables (SQLite) or indexes (PostgreSQL)."""
    if type_ == "index":
        return name not in NAME_TRIGRAM_INDEXES
    return not (type_ == "table" and name is not None and (name == NAMES_TABLE or name.startswith(NAMES_TABLE + "_")))


class Folder(Base):
    __tablename__ = "folders"

    id: Mapped[int] = mapped_column(primary_key=True)
    path: Mapped[str] = mapped_column(FsPath, unique=True)
    added_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    last_scan_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    #: The file system the folder was on (``st_dev``) when it was added or a scan last found photos in it: a
    #: folder on another one now (its drive unmounted, the bare mount point left behind) with none of its photos
    #: there is offline, not emptied (``scan.folder_state``).
    device: Mapped[int | None] = mapped_column(BigInteger)

    photos: Mapped[list[Photo]] = relationship(back_populates="folder")


class PhotoState:
    PENDING = "pending"  # found, not yet (re)indexed
    INDEXED = "indexed"
    FAILED = "failed"  # could not be read; ``error`` says why
    MISSING = "missing"  # gone from disk; kept a while so a move can re-link it by content hash


class Photo(Base):
    __tablename__ = "photos"

    id: Mapped[int] = mapped_column(primary_key=True)
    folder_id: Mapped[int] = mapped_column(ForeignKey("folders.id", ondelete="CASCADE"), index=True)
    path: Mapped[str] = mapped_column(FsPath, unique=True)
    #: The file name as text (undecodable bytes replaced), lower-cased, for searching by name.
    name: Mapped[str] = mapped_column(String, index=True)
    #: The folder path as text, lower-cased, for searching by folder name.
    dir: Mapped[str] = mapped_column(String)
    size: Mapped[int] = mapped_column(BigCount)
    mtime_ns: Mapped[int] = mapped_column(BigCount)
    content_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    state: Mapped[str] = mapped_column(String(16), default=PhotoState.PENDING, index=True)
    error: Mapped[str | None] = mapped_column(Text)
    format: Mapped[str | None] = mapped_column(String(16))
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    taken_at: Mapped[dt.datetime | None] = mapped_column(DateTime, index=True)
    camera_make: Mapped[str | None] = mapped_column(String, index=True)
    camera_model: Mapped[str | None] = mapped_column(String)
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    orientation: Mapped[int | None] = mapped_column(Integer)
    #: The embedder whose results this photo has (None until indexed).
    embedder_id: Mapped[int | None] = mapped_column(ForeignKey("embedders.id"))
    #: Which labeller (word heads, vocabulary, gazetteer) wrote this photo's labels; a photo whose key differs
    #: from the current one is re-labelled from its stored embedding and position, without decoding it.
    labels_key: Mapped[str | None] = mapped_column(String(64), index=True)
    #: Where the photo was taken, for display ("Paris, Île-de-France, France"), from its GPS position.
    place: Mapped[str | None] = mapped_column(String)
    added_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    indexed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    missing_since: Mapped[dt.datetime | None] = mapped_column(DateTime)

    folder: Mapped[Folder] = relationship(back_populates="photos")


#: The catalogue in the order search shows it when no word ranks the results: newest first, undated last, then by
#: id. (SQLite's DESC puts NULL last by itself, and its indexes may not say so: migration 0002 leaves it out there.)
Index("ix_photos_state_taken", Photo.state, Photo.taken_at.desc().nulls_last(), Photo.id)


class Embedder(Base):
    """One pair of backbone + CIFAR network weights: what produced a photo's embedding and labels."""

    __tablename__ = "embedders"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)  # hash of the spec
    spec: Mapped[Any] = mapped_column(JSON)
    dim: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class Embedding(Base):
    __tablename__ = "embeddings"

    photo_id: Mapped[int] = mapped_column(ForeignKey("photos.id", ondelete="CASCADE"), primary_key=True)
    embedder_id: Mapped[int] = mapped_column(ForeignKey("embedders.id"), primary_key=True)
    vector: Mapped[bytes] = mapped_column(LargeBinary)  # float16, little-endian, embedder.dim values


class WordKind(enum.StrEnum):
    """Where a searchable word comes from (what the sidebar groups by)."""

    THING = "thing"  # an object the networks see: ImageNet classes and their ancestors, the everyday heads
    SCENE = "scene"  # a place or situation the whole photo shows: beach, kitchen, street, people
    PLACE = "place"  # a city, region or country, from the photo's GPS position (offline gazetteer)


class Word(Base):
    __tablename__ = "words"

    id: Mapped[int] = mapped_column(primary_key=True)
    word: Mapped[str] = mapped_column(String, unique=True)
    kind: Mapped[str] = mapped_column(String(16), server_default=WordKind.THING.value)
    #: Searchable but never shown as a label: generic ancestors ("vertebrate", "self-propelled vehicle").
    hidden: Mapped[bool] = mapped_column(Boolean, server_default=false())


class PhotoLabel(Base):
    """A searchable word the backbone sees in a photo, with its probability."""

    __tablename__ = "photo_labels"

    photo_id: Mapped[int] = mapped_column(ForeignKey("photos.id", ondelete="CASCADE"), primary_key=True)
    word_id: Mapped[int] = mapped_column(ForeignKey("words.id"), primary_key=True)
    p: Mapped[float] = mapped_column(Float)
    #: The photo's ``taken_at``, copied, as search breaks ties: many photos are certain of a broad word (a
    #: quarter of the "animal" photos at exactly 1.0), and the newest of them come first. With the date in the
    #: word's index, a page of it is its first rows; without, every tied photo's date was read and sorted before
    #: the first row (11,000 of "vehicle" among a million, 60 ms). Written with the labels, from the photo row
    #: in the same transaction; a photo's date changes only when it is analysed again, and its labels with it.
    taken_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


#: A word's photos in the order search shows them: by probability, then newest first (undated last), then by id;
#: covering, so a page of a word reads only the photos it shows. (As for ``ix_photos_state_taken``, SQLite's DESC
#: puts NULL last by itself.)
Index(
    "ix_photo_labels_word_p_taken",
    PhotoLabel.word_id,
    PhotoLabel.p.desc(),
    PhotoLabel.taken_at.desc().nulls_last(),
    PhotoLabel.photo_id,
)


class ModelVersion(Base):
    """A bird head: the shipped one, or one the user trained. Exactly one is active."""

    __tablename__ = "model_versions"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String, unique=True)  # "shipped-2026-11-23", "v3" ...
    file: Mapped[str] = mapped_column(String)  # relative to the library's models/ folder, or "shipped:NAME"
    sha256: Mapped[str] = mapped_column(String(64))
    embedder_key: Mapped[str] = mapped_column(String(64))
    threshold: Mapped[float] = mapped_column(Float)
    active: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    #: Metrics, recipe and the set of labels it saw (JSON-able dict).
    info: Mapped[Any] = mapped_column(JSON, default=dict)


class BirdScore(Base):
    """The active model version's bird probability for a photo (re-written when another version becomes active)."""

    __tablename__ = "bird_scores"

    photo_id: Mapped[int] = mapped_column(ForeignKey("photos.id", ondelete="CASCADE"), primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id", ondelete="CASCADE"), primary_key=True)
    score: Mapped[float] = mapped_column(Float)

    #: A model's photos, by bird score (covering).
    __table_args__ = (Index("ix_bird_scores_model_score_photo", "model_id", "score", "photo_id"),)


class UserLabel(Base):
    """The user's own answer for a picture (by content), which always wins over the model."""

    __tablename__ = "user_labels"

    content_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    label: Mapped[str] = mapped_column(String(16))  # "bird" | "not-bird"
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class PhotoEdit(Base):
    """How the user turned a picture (by content, like their labels): survives moves, renames, re-indexing and
    the photo leaving and coming back, and is applied wherever the picture is shown."""

    __tablename__ = "photo_edits"

    content_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    #: Clockwise quarter turns on top of the EXIF orientation: 0, 90, 180 or 270 degrees.
    rotation: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class LabelView(Base):
    """Embeddings of augmented views (mirrored, cropped) of a user-labelled picture, computed once when it is
    first labelled, so retraining sees more than one view of each of the user's examples without decoding."""

    __tablename__ = "label_views"

    content_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    embedder_id: Mapped[int] = mapped_column(ForeignKey("embedders.id"), primary_key=True)
    view: Mapped[int] = mapped_column(Integer, primary_key=True)
    vector: Mapped[bytes] = mapped_column(LargeBinary)


class Setting(Base):
    """Library-wide settings (one registry; the GUI keeps only window state in QSettings)."""

    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(String, primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)


class AnalyzerKind(enum.StrEnum):
    """The analyzers that run after recognition, each with its own version and tables."""

    FACES = "faces"
    #: What a picture looks like (``media.looks``): perceptual hashes that find resized, re-encoded and cropped copies.
    LOOKS = "looks"


class PhotoAnalysis(Base):
    """Which version of an analyzer has analysed a photo (written in the transaction that writes its results,
    so a crash never leaves a photo half-analysed: it has this row and its results, or neither)."""

    __tablename__ = "photo_analyses"

    photo_id: Mapped[int] = mapped_column(ForeignKey("photos.id", ondelete="CASCADE"), primary_key=True)
    analyzer: Mapped[str] = mapped_column(String(16), primary_key=True)  # AnalyzerKind
    version: Mapped[str] = mapped_column(String(64))
    analysed_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    #: Why this analyzer could not analyse the photo (the photo stays searchable by what others found).
    error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_photo_analyses_analyzer_version", "analyzer", "version"),)


class PhotoLooks(Base):
    """A photo's perceptual hashes (``media.looks.hashes``: the whole picture, then its likely crops), written by
    the index from the decode it already does, so finding duplicates never decodes a photo."""

    __tablename__ = "photo_looks"

    photo_id: Mapped[int] = mapped_column(ForeignKey("photos.id", ondelete="CASCADE"), primary_key=True)
    hashes: Mapped[bytes] = mapped_column(LargeBinary)  # unsigned 64-bit, little-endian, len(looks.WINDOWS) values


class Person(Base):
    """A group of faces: named by the user, or not yet (shown after the named ones)."""

    __tablename__ = "people"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str | None] = mapped_column(String, index=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class FaceAssignment(enum.StrEnum):
    """Who put a face in its person: grouping may move an automatic one, never one the user placed."""

    AUTO = "auto"
    USER = "user"


class Face(Base):
    """A face the detector found, where it is (fractions of the photo as displayed, EXIF orientation applied, so
    a box does not depend on the size the photo was analysed at), and its 128-number descriptor."""

    __tablename__ = "faces"

    id: Mapped[int] = mapped_column(primary_key=True)
    photo_id: Mapped[int] = mapped_column(ForeignKey("photos.id", ondelete="CASCADE"), index=True)
    left: Mapped[float] = mapped_column(Float)
    top: Mapped[float] = mapped_column(Float)
    right: Mapped[float] = mapped_column(Float)
    bottom: Mapped[float] = mapped_column(Float)
    score: Mapped[float] = mapped_column(Float)
    descriptor: Mapped[bytes] = mapped_column(LargeBinary)  # float32, little-endian, 128 values
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"), index=True)
    assignment: Mapped[str] = mapped_column(String(8), default=FaceAssignment.AUTO.value)  # FaceAssignment


class FaceVerdict(enum.StrEnum):
    IS = "is"  # this face is this person (named, merged or moved there by the user)
    IS_NOT = "is-not"  # this face is not this person (removed from them by the user)


class FaceDecision(Base):
    """The user's word on a face, kept by the picture's content and the face's box (fractions), so it finds the
    face again after re-detection, a move, a rename or the photo leaving and coming back."""

    __tablename__ = "face_decisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    content_hash: Mapped[str] = mapped_column(String(64), index=True)
    left: Mapped[float] = mapped_column(Float)
    top: Mapped[float] = mapped_column(Float)
    right: Mapped[float] = mapped_column(Float)
    bottom: Mapped[float] = mapped_column(Float)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    verdict: Mapped[str] = mapped_column(String(8))  # FaceVerdict
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
