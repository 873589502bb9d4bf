"""Grouping descriptors into people, on made-up descriptors whose distances are known."""

from __future__ import annotations

import numpy as np

from photobird.models.faces import group


def _people(n_people: int, per_person: int, spread: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Descriptors around ``n_people`` centres far apart (about 1.4), each face ``spread`` from its centre."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_people, 128))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    faces, who = [], []
    for p, c in enumerate(centres):
        for _ in range(per_person):
            noise = rng.normal(size=128)
            faces.append(c + spread * noise / np.linalg.norm(noise))
            who.append(p)
    return np.array(faces, dtype=np.float32), np.array(who)


def test_clusters_are_the_people_and_strangers_stay_alone() -> None:
    faces, who = _people(5, 4, spread=0.2)
    strangers, _ = _people(6, 1, spread=0.0, seed=1)
    clusters = group.cluster(np.vstack([faces, strangers]))
    assert len(clusters) == 5
    for members in clusters:
        assert len({who[i] for i in members}) == 1 and len(members) == 4
    assert not any(i >= len(faces) for m in clusters for i in m)  # no stranger joined anyone


def test_a_chain_of_small_steps_does_not_make_one_person() -> None:
    """Single linkage would join a -> b -> c -> d (each step 0.45); average linkage keeps the ends apart."""
    start = np.zeros(128, dtype=np.float32)
    direction = np.zeros(128, dtype=np.float32)
    direction[0] = 1.0
    chain = np.stack([start + direction * 0.45 * i for i in range(6)])
    clusters = group.cluster(chain)
    assert all(len(m) < 6 for m in clusters)


def test_new_faces_join_the_nearest_person_or_wait() -> None:
    faces, who = _people(3, 5, spread=0.2)
    known, known_person = faces[:12], who[:12] + 100  # person ids in the catalogue
    newcomer, _ = _people(1, 2, spread=0.2, seed=7)
    result = group.group(np.vstack([faces[12:], newcomer]), known, known_person)
    assert result.joined[:3].tolist() == (who[12:] + 100).tolist()
    assert result.joined[3:].tolist() == [-1, -1]
    assert result.clusters == [[3, 4]]  # the two faces of the new person make a new person


def test_a_face_the_user_refused_does_not_join_that_person() -> None:
    faces, who = _people(2, 4, spread=0.2)
    joined = group.join_people(faces[3:4], faces[:3], who[:3], forbidden={0: {int(who[3])}})
    assert joined.tolist() == [-1]


def test_empty_inputs() -> None:
    empty = np.zeros((0, 128), dtype=np.float32)
    result = group.group(empty, empty, np.zeros(0, dtype=np.int64))
    assert result.joined.tolist() == [] and result.clusters == []
    assert group.cluster(np.ones((1, 128), dtype=np.float32)) == []
