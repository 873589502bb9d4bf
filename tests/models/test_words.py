"""The shipped word mapping: what people type finds the ImageNet classes it should."""

from __future__ import annotations

import json

import numpy as np

from photobird import config
from photobird.models.words import load_vocabulary

#: ImageNet-1k class indices (the shipped class names are the backbone package's spelling, e.g. "tabby cat")
IDS = {
    "tabby": 281, "siamese cat": 284, "sports car": 817, "convertible": 511, "cab": 468, "canoe": 472,
    "speedboat": 814, "gondola": 576, "daisy": 985, "banana": 954, "granny smith apple": 948, "strawberry": 949,
    "pizza": 963, "cheeseburger": 933, "airliner": 404, "school bus": 779, "acoustic guitar": 402, "violin": 889,
    "grand piano": 579, "warplane": 895,
}  # fmt: skip
BIRD_CLASSES = list(range(7, 25)) + list(range(80, 101)) + list(range(127, 147))


def classes_with(word: str) -> set[int]:
    v = load_vocabulary()
    return set(np.flatnonzero(v.matrix[:, v.word_index[v.aliases.get(word, word)]]).tolist())


def test_bird_finds_exactly_the_59_bird_classes() -> None:
    assert classes_with("bird") == set(BIRD_CLASSES)
    assert load_vocabulary().bird_classes == tuple(BIRD_CLASSES)


def test_dog_finds_terriers_and_every_breed() -> None:
    v = load_vocabulary()
    terriers = [i for i, n in enumerate(v.class_names) if n.endswith("terrier")]
    assert len(terriers) >= 20
    dogs = classes_with("dog")
    assert set(terriers) <= dogs
    assert len(dogs) >= 118  # ImageNet's 118 dog breeds (and a few dog-like classes)
    assert IDS["tabby"] not in dogs


def test_everyday_words() -> None:
    v = load_vocabulary()
    expect = {
        "car": ["sports car", "convertible", "cab"],
        "boat": ["canoe", "speedboat", "gondola"],
        "flower": ["daisy"],
        "fruit": ["banana", "granny smith apple", "strawberry"],
        "food": ["pizza", "cheeseburger", "banana"],
        "vehicle": ["airliner", "school bus", "canoe", "sports car"],
        "instrument": ["acoustic guitar", "violin", "grand piano"],
        "airplane": ["airliner", "warplane"],
        "aircraft": ["airliner", "warplane"],
        "aeroplane": ["airliner"],
        "cat": ["tabby", "siamese cat"],
    }
    for word, names in expect.items():
        have = classes_with(word)
        for name in names:
            assert IDS[name] in have, (word, name, v.class_names[IDS[name]])


def test_word_probabilities_sum_over_classes() -> None:
    v = load_vocabulary()
    probs = np.zeros((1, 1000), np.float32)
    probs[0, 8] = 0.5  # hen
    probs[0, 12] = 0.3  # house finch
    probs[0, 207] = 0.2  # golden retriever
    wp = v.word_probabilities(probs)[0]
    assert wp[v.word_index["bird"]] == np.float32(0.8)
    assert wp[v.word_index["dog"]] == np.float32(0.2)
    assert wp[v.word_index["animal"]] == wp.max() == np.float32(1.0)  # ancestors gather everything


def test_file_needs_no_wordnet_at_run_time() -> None:
    data = json.loads((config.resources_dir() / "imagenet_words.json").read_text())
    assert len(data["classes"]) == 1000
    assert all(c["wnid"].startswith("n") and c["words"] for c in data["classes"])
