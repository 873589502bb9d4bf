"""How many of the library's photos a candidate bird model would judge differently from the active one.

A retrained model can score better on the user's labelled photos and still turn many unlabelled ones from bird
to not bird (or back): before the user keeps it, the training panel says how many, and does not recommend Keep
unreservedly when they are many. Both models score the photos' stored embeddings, as activating a version does
(no image is decoded). The user's own labels win over either model, so a labelled photo never changes verdict:
it counts in the library's total only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from sqlalchemy import select

from photobird.library import versions
from photobird.library.schema import ModelVersion, Photo, UserLabel
from photobird.library.store import Library

if TYPE_CHECKING:
    from photobird.models.runner import Models

#: A change of verdict is "many" beyond this share of the library's photos, or beyond ``MANY_PHOTOS`` photos:
#: a correction moves a few borderline photos; more than that changes what "bird" finds.
MANY_SHARE = 0.05
MANY_PHOTOS = 50


@dataclass(frozen=True)
class VerdictChanges:
    """Of the library's ``photos`` (those the models score), how many would change verdict, and which way."""

    photos: int
    become_bird: int
    stop_being_bird: int

    @property
    def changed(self) -> int:
        return self.become_bird + self.stop_being_bird

    @property
    def many(self) -> bool:
        return self.changed > MANY_PHOTOS or self.changed > MANY_SHARE * self.photos


@dataclass(frozen=True)
class VerdictComparison:
    """Both models' view of the unlabelled photos, kept so that the count follows the candidate's threshold
    (the panel's slider) without scoring again."""

    photos: int  # the library's photos both models score: indexed, with an embedding from this embedder
    candidate: np.ndarray  # the candidate's score of each unlabelled one
    active_bird: np.ndarray  # the active model's verdict on the same photos, at its threshold

    def at(self, threshold: float) -> VerdictChanges:
        """The changes if the candidate is kept with this threshold."""
        bird = self.candidate >= threshold
        return VerdictChanges(self.photos, int(np.sum(bird & ~self.active_bird)), int(np.sum(~bird & self.active_bird)))


def compare(library: Library, models: Models, candidate: ModelVersion) -> VerdictComparison:
    """Score the library's photos with the candidate and the active model (slow for a large library: run it off
    the GUI thread)."""
    active = versions.active_version(library)
    if active is None:
        raise versions.VersionError("no active bird model")
    heads = versions.load_head(library, candidate), versions.load_head(library, active)
    for head in heads:
        models.check_head(head)
    embedder_id = versions.ensure_embedder(library, models)
    with library.session() as s:
        labelled = set(s.scalars(select(Photo.id).join(UserLabel, UserLabel.content_hash == Photo.content_hash)))
    photos = 0
    scores: list[np.ndarray] = [np.zeros(0, np.float32)]
    verdicts: list[np.ndarray] = [np.zeros(0, bool)]
    for ids, vectors in versions.iter_embeddings(library, embedder_id):
        photos += len(ids)
        unlabelled = vectors[np.array([i not in labelled for i in ids.tolist()], dtype=bool)]
        if len(unlabelled):
            scores.append(models.score(unlabelled, heads[0]))
            verdicts.append(models.score(unlabelled, heads[1]) >= active.threshold)
    return VerdictComparison(photos, np.concatenate(scores), np.concatenate(verdicts))
