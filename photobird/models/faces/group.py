"""Grouping face descriptors into people: pure arithmetic on the 128 numbers, no catalogue.

Two steps, so that grouping is incremental and never undoes itself:

1. A new face joins an existing person when it is close to that person's nearest faces (the mean of its
   ``k`` nearest, not just one: one lookalike photo must not pull a stranger in, which is how single linkage
   chains strangers together).
2. Faces that joined nobody are clustered among themselves by average linkage (every pair inside a group is
   close on average, so a chain of small steps does not make one group); a group of two or more faces becomes a
   new person.
3. A face still alone tries step 1 again with the people step 2 just made (a face of someone whose other
   photos arrived with it); one that joins nobody waits for a later photo of the same person.

Faces already in a person are never moved by grouping: only the user moves them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: The mean distance from a face to a person's nearest faces under which it joins them (dlib's descriptor:
#: about 0.5 works; 0.6, dlib's own verification threshold, chains strangers together in a library of thousands
#: of faces). Chosen with ``CLUSTER_DISTANCE`` on faces-dev (training/README.md, "Faces").
SAME_PERSON = 0.51
#: The average-linkage distance under which faces that joined nobody make a new person together.
CLUSTER_DISTANCE = 0.485
#: How many of a person's nearest faces a new face is compared with.
NEAREST = 3
#: The most waiting faces clustered in one go (average linkage keeps n^2/2 distances: 3,000 faces are 36 MB).
CLUSTER_CHUNK = 3000


@dataclass(frozen=True)
class Grouping:
    """What grouping decided: ``joined[i]`` is the person the i-th new face joins (-1: none), and
    ``clusters`` lists the new faces (indices) that make each new person."""

    joined: np.ndarray
    clusters: list[list[int]]


def _distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    aa = np.einsum("ij,ij->i", a, a)[:, None]
    bb = np.einsum("ij,ij->i", b, b)[None, :]
    return np.sqrt(np.maximum(aa + bb - 2.0 * (a @ b.T), 0.0))


def join_people(
    new: np.ndarray,
    known: np.ndarray,
    known_person: np.ndarray,
    threshold: float = SAME_PERSON,
    forbidden: dict[int, set[int]] | None = None,
    chunk: int = 256,
) -> np.ndarray:
    """For each new face, the person whose ``NEAREST`` nearest faces are closest on average, if that mean is
    under ``threshold``; -1 otherwise. ``forbidden[i]`` are people the i-th face must not join (the user said
    it is not them)."""
    joined = np.full(len(new), -1, dtype=np.int64)
    if not len(new) or not len(known):
        return joined
    new = new.astype(np.float32, copy=False)
    known = known.astype(np.float32, copy=False)
    people, counts = np.unique(known_person, return_counts=True)
    need = dict(zip(people.tolist(), np.minimum(counts, NEAREST).tolist(), strict=True))
    forbidden = forbidden or {}
    for start in range(0, len(new), chunk):
        d = _distances(new[start : start + chunk], known)
        for row in range(d.shape[0]):
            close = np.flatnonzero(d[row] < threshold + 0.15)  # a person's k nearest can only be among these
            if not len(close):
                continue
            best, best_mean = -1, threshold
            order = close[np.argsort(d[row, close])]
            taken: dict[int, list[float]] = {}
            for j in order:
                taken.setdefault(int(known_person[j]), []).append(float(d[row, j]))
            banned = forbidden.get(start + row, set())
            for person, dists in taken.items():
                k = need[person]
                if person in banned or len(dists) < k:
                    continue
                mean = sum(dists[:k]) / k
                if mean < best_mean:
                    best, best_mean = person, mean
            joined[start + row] = best
    return joined


def cluster(descriptors: np.ndarray, threshold: float = CLUSTER_DISTANCE, min_size: int = 2) -> list[list[int]]:
    """Average-linkage groups of at least ``min_size`` faces (indices into ``descriptors``), largest first."""
    # imported here: scipy's clustering takes a good part of a second to import, and every command that only
    # reads faces and people (search, info, the app's start) would pay it
    from scipy.cluster.hierarchy import fcluster, linkage

    groups: list[list[int]] = []
    for start in range(0, len(descriptors), CLUSTER_CHUNK):
        part = descriptors[start : start + CLUSTER_CHUNK].astype(np.float64)
        if len(part) < min_size:
            continue
        if len(part) == 1:
            labels = np.ones(1, dtype=np.int64)
        else:
            labels = fcluster(linkage(part, method="average", metric="euclidean"), t=threshold, criterion="distance")
        members: dict[int, list[int]] = {}
        for i, label in enumerate(labels.tolist()):
            members.setdefault(label, []).append(start + i)
        groups += [m for m in members.values() if len(m) >= min_size]
    return sorted(groups, key=len, reverse=True)


def group(
    new: np.ndarray,
    known: np.ndarray,
    known_person: np.ndarray,
    threshold: float = SAME_PERSON,
    forbidden: dict[int, set[int]] | None = None,
    cluster_threshold: float = CLUSTER_DISTANCE,
) -> Grouping:
    """The three steps: new faces join existing people where they can; the rest are clustered into new people;
    faces left alone join those new people where they can (``clusters`` then includes them)."""
    forbidden = forbidden or {}
    joined = join_people(new, known, known_person, threshold, forbidden)
    rest = np.flatnonzero(joined < 0)
    made = cluster(new[rest], cluster_threshold) if len(rest) else []
    clusters = [[int(rest[i]) for i in members] for members in made]
    grouped = {i for members in clusters for i in members}
    alone = np.array([i for i in rest.tolist() if i not in grouped], dtype=np.int64)
    if len(alone) and clusters:
        members = np.array([i for m in clusters for i in m], dtype=np.int64)
        which = np.array([c for c, m in enumerate(clusters) for _ in m], dtype=np.int64)
        # (no refusal applies: the user can only have refused people who existed before this grouping)
        late = join_people(new[alone], new[members], which, threshold)
        for i, c in zip(alone.tolist(), late.tolist(), strict=True):
            if c >= 0:
                clusters[c].append(int(i))
    return Grouping(joined, clusters)
