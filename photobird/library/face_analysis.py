"""Faces as an analyzer after recognition: the networks find and describe the faces of a photo, the catalogue
keeps them with the user's decisions applied (``people.write_faces``), and after each run the new faces are
grouped into people (``people.regroup_new``), by one indexer at a time."""

from __future__ import annotations

from PIL import Image
from sqlalchemy.orm import Session

from photobird.library import people
from photobird.library.analyses import LaterAnalyzer
from photobird.library.db import locks
from photobird.library.schema import AnalyzerKind
from photobird.library.store import Library
from photobird.models.faces.analyzer import FaceAnalyzer
from photobird.models.faces.found import DECODE_SIDE, FoundFace


class FacesAnalyzer(LaterAnalyzer):
    """The face analyzer as the library runs it: the networks find and describe faces in a photo, the catalogue
    keeps them with the user's decisions applied, and grouping gives new faces a person after each run."""

    kind = AnalyzerKind.FACES
    decode_side = DECODE_SIDE

    def __init__(self, networks: FaceAnalyzer) -> None:
        self.networks = networks
        self.version = networks.version

    def analyze(self, image: Image.Image) -> list[FoundFace]:
        return self.networks.analyze(image)

    def write(self, s: Session, photo_id: int, content_hash: str | None, result: list[FoundFace]) -> None:
        people.write_faces(s, photo_id, content_hash, result)

    def copy(self, s: Session, from_photo_id: int, to_photo_id: int) -> bool:
        people.copy_faces(s, from_photo_id, to_photo_id)
        return True

    def finish(self, library: Library) -> None:
        # several indexers on one PostgreSQL catalogue group one at a time: two at once would each make a person
        # of the same new faces. One that finds another grouping waits for it, then groups what that one did not
        # see (nothing, unless its own faces were committed after the other began)
        with locks.first_or_wait(library.engine, locks.Key.GROUPING):
            people.regroup_new(library)
