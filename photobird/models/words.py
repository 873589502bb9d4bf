"""From ImageNet class probabilities to the words people search with.

``resources/imagenet_words.json`` (generated once by training/make_words.py from WordNet) lists, for each of the
1,000 classes, its own names and those of its WordNet ancestors. A word's probability for a photo is the sum of
the probabilities of the classes that carry it, so "dog" gathers every breed and "bird" every bird class, and a
photo the network splits between "robin" and "bulbul" is still confidently a "bird".
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from photobird import config

#: Words too close to a synonym of another word on the same classes to be worth storing twice, picked so the
#: stored labels stay readable ("animal", not also "beast", "brute", "creature", "fauna").
_REDUNDANT = {
    "animate being",
    "beast",
    "brute",
    "creature",
    "fauna",
    "mammalian",
    "placental",
    "placental mammal",
    "eutherian",
    "eutherian mammal",
    "canid",
    "domestic dog",
    "canis familiaris",
    "teleost",
    "teleostan",
    "malacopterygian",
    "soft-finned fish",
    "article of clothing",
    "vesture",
    "wear",
    "wearable",
    "habiliment",
    "nutriment",
    "nourishment",
    "nutrition",
    "sustenance",
    "aliment",
    "alimentation",
    "victuals",
    "green goods",
    "green groceries",
    "garden truck",
    "motorcar",
    "machine",
    "automotive vehicle",
    "heavier-than-air craft",
    "lepidopterous insect",
    "lepidopteron",
    "lepidopteran",
    "hymenopterous insect",
    "hymenopteran",
    "hymenopteron",
    "hymenopter",
    "reptilian",
    "diapsid",
    "diapsid reptile",
    "spermatophyte",
    "phanerogam",
    "tracheophyte",
    "flora",
    "plant life",
    "domesticated animal",
    "solid food",
}


def normalize_word(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("_", " ").strip().lower())


@dataclass(frozen=True)
class Vocabulary:
    """The words and a (classes x words) 0/1 matrix that turns class probabilities into word probabilities."""

    class_names: tuple[str, ...]
    words: tuple[str, ...]
    matrix: np.ndarray  # (1000, V) float32
    bird_classes: tuple[int, ...]
    word_index: dict[str, int]
    #: Words worth showing (class names and each ancestor's headword); the others are synonyms, searchable
    #: but not displayed ("cat", not also "true cat" and "felid").
    shown: np.ndarray  # (V,) bool
    #: How many classes carry each word (V,): fewer means more specific.
    class_count: np.ndarray

    def word_probabilities(self, class_probs: np.ndarray) -> np.ndarray:
        """(N, 1000) class probabilities -> (N, V) word probabilities (clipped to 1 against rounding).

        The product runs in torch, not numpy: numpy's OpenBLAS keeps a thread pool of its own that spins after
        each call, and beside the indexer's decode and model threads that cost a sixth of the machine.
        """
        import torch  # here, not at the top: search reads the vocabulary and the app starts before torch loads

        probs = torch.from_numpy(np.ascontiguousarray(class_probs, dtype=np.float32))
        return torch.clamp_max(probs @ torch.from_numpy(self.matrix), 1.0).numpy()

    def top_labels(
        self, class_probs: np.ndarray, min_p: float = 0.05, limit: int = 40, shown_only: bool = False
    ) -> list[dict[str, float]]:
        """Per image, the words with probability >= ``min_p``, most probable first (ties: more specific first)."""
        wp = np.round(self.word_probabilities(np.atleast_2d(class_probs)), 4)
        out = []
        for row in wp:
            keep = row >= min_p
            if shown_only:
                keep &= self.shown
            idx = np.flatnonzero(keep)
            # most probable first; more specific words (carried by fewer classes) first among equals
            idx = idx[np.lexsort((self.class_count[idx], -row[idx]))][:limit]
            out.append({self.words[j]: round(float(row[j]), 4) for j in idx})
        return out

    def is_shown(self, word: str) -> bool:
        i = self.word_index.get(word)
        return bool(self.shown[i]) if i is not None else True

    def shown_labels(self, labels: dict[str, float], limit: int | None = None) -> dict[str, float]:
        """The displayable subset of stored labels (class names and headwords, not every synonym)."""
        out = {w: p for w, p in labels.items() if self.is_shown(w)}
        return dict(list(out.items())[:limit]) if limit else out

    def bird_probability(self, class_probs: np.ndarray) -> np.ndarray:
        """The backbone's own answer: the summed probability of ImageNet's 59 bird classes."""
        return np.asarray(class_probs)[:, list(self.bird_classes)].sum(axis=1)


@lru_cache(maxsize=4)
def load_vocabulary(path: Path | None = None) -> Vocabulary:
    path = Path(path) if path else config.resources_dir() / "imagenet_words.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    classes = data["classes"]
    words: list[str] = []
    index: dict[str, int] = {}
    rows: list[list[int]] = []
    shown: set[str] = set()
    for c in classes:
        shown.update(normalize_word(w) for w in c.get("heads", c["words"]))
        row = []
        for w in c["words"]:
            w = normalize_word(w)
            if w in _REDUNDANT and w != normalize_word(c["name"]):
                continue
            if w not in index:
                index[w] = len(words)
                words.append(w)
            row.append(index[w])
        rows.append(sorted(set(row)))
    matrix = np.zeros((len(classes), len(words)), dtype=np.float32)
    for i, row in enumerate(rows):
        matrix[i, row] = 1.0
    return Vocabulary(
        class_names=tuple(normalize_word(c["name"]) for c in classes),
        words=tuple(words),
        matrix=matrix,
        bird_classes=tuple(data["bird_classes"]),
        word_index=index,
        shown=np.array([w in shown for w in words], dtype=bool),
        class_count=matrix.sum(axis=0),
    )
