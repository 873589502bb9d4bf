"""The words people search with, and where each comes from.

``resources/imagenet_words.json`` (generated once by training/make_words.py from WordNet) lists, for each of the
1,000 ImageNet classes, its own names and those of its WordNet ancestors. A word's probability for a photo is the
sum of the probabilities of the classes that carry it, so "dog" gathers every breed and "bird" every bird class,
and a photo the network splits between "robin" and "bulbul" is still confidently a "bird".

``resources/everyday_words.json`` (hand-written) lists the everyday words that have heads of their own (the 80
COCO things and scene and people words: "person", "cell phone", "beach", "kitchen", "people"), with the words that
also find them ("vehicle" finds a car), the other words people type for them ("sofa", "kids") and the ImageNet
classes that count as evidence for them. ``Lexicon`` puts both together for search and display.
"""

from __future__ import annotations

import enum
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from photobird import config

#: Class names that cannot be typed back as they read ("kite (bird of prey)", "handrail / baluster"): what is
#: shown and searched instead. Every word shown for a photo must find that photo when it is searched.
DISPLAY_NAMES = {
    "kite (bird of prey)": "bird of prey",
    "drake (male duck)": "drake",
    "red wolf or maned wolf": "red wolf",
    "a cat having a striped coat": "tiger cat",
    "ram (adult male sheep)": "ram",
    "handrail / baluster": "handrail",
    "military hat (bearskin or shako)": "bearskin hat",
    "cardboard box / carton": "cardboard box",
    "bell or wind chime": "wind chime",
    "spiral or coil": "spiral",
    "gas mask or respirator": "gas mask",
    "tights for gymnastics, a one-piece leotard, or a sport jersey": "leotard",
    "product packet / packaging": "packaging",
    "shoji screen / room divider": "room divider",
    "swim trunks / shorts": "swim trunks",
    "vaulted or arched ceiling": "vaulted ceiling",
    "traffic or street sign": "street sign",
    "cherimoya (custard apple)": "cherimoya",
    "fruiting spike of a cereal plant": "ear of grain",
}
#: Words a class also answers to that WordNet does not give it: ImageNet's "kite" is the raptor most golden eagles
#: are taken for, so "eagle" finds it beside the bald eagle.
EXTRA_CLASS_WORDS = {"kite (bird of prey)": ("eagle",)}
#: A class's own WordNet names that mean something else to people: "kite" is the toy (an everyday word).
DROPPED_CLASS_WORDS = {"kite (bird of prey)": frozenset({"kite"})}

#: WordNet ancestors too generic or technical to show as a label ("vertebrate", "self-propelled vehicle"); they
#: stay searchable.
HIDDEN = frozenset(
    {
        "vertebrate",
        "invertebrate",
        "arthropod",
        "placental",
        "self-propelled vehicle",
        "wheeled vehicle",
        "craft",
        "instrument",
        "furnishing",
        "produce",
        "aquatic vertebrate",
        "ungulate",
        "even-toed ungulate",
        "odd-toed ungulate",
        "establishment",
        "place of business",
        "mercantile establishment",
        "durables",
        "game equipment",
        "headdress",
        "decapod crustacean",
        "gallinaceous bird",
        "anseriform bird",
        "passerine",
        "oscine",
        "saurian",
        "colubrid snake",
        "catarrhine",
        "platyrrhine",
        "musteline mammal",
        "bovid",
        "ruminant",
        "edible fruit",
        "bony fish",
        "teleost fish",
        "food product",
        "foodstuff",
        "nutrient",
        "hosiery",
        "piciform bird",
        "coraciiform bird",
        "apodiform bird",
        "psittaciform bird",
        "cuculiform bird",
        "procyonid",
        "viverrine",
        "lagomorph",
        "proboscidean",
        "edentate",
        "pachyderm",
        "protective garment",
        "overgarment",
        "outerwear",
        "cyprinid",
        "elasmobranch",
        "selachian",
        "amphibian",
        "diapsid",
        "chelonian",
        "public transport",
        "electronic equipment",
        "data input device",
        "peripheral",
        "device",
        "commodity",
        "consumer goods",
        "home appliance",
        "durable goods",
        "dish",
        "course",
        "cruciferous vegetable",
        "solanaceous vegetable",
        "root vegetable",
        "cucurbit",
        "summer squash",
        "winter squash",
    }
)


class WordKind(enum.StrEnum):
    """Where a searchable word comes from (what the sidebar groups by)."""

    THING = "thing"  # an object the networks see: ImageNet classes and their ancestors, the everyday heads
    SCENE = "scene"  # a place or situation the whole photo shows: beach, kitchen, street, people
    PLACE = "place"  # a city, region or country, from the photo's GPS position (offline gazetteer)


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
    #: Words worth showing (class names and each ancestor's headword, less ``HIDDEN``); the others stay
    #: searchable but are not displayed ("cat", not also "felid").
    shown: np.ndarray  # (V,) bool
    #: How many classes carry each word (V,): fewer means more specific.
    class_count: np.ndarray
    #: Words carried by exactly the classes of another word (WordNet synonyms: "automobile", "beast"): searched
    #: as that word, never stored twice.
    aliases: dict[str, str]

    def word_probabilities(self, class_probs: np.ndarray) -> np.ndarray:
        """(N, 1000) class probabilities -> (N, V) word probabilities (clipped to 1 against rounding).

        The product runs in torch, not numpy: numpy's OpenBLAS keeps a thread pool of its own that spins after
        each call, and beside the indexer's decode and model threads that cost a sixth of the machine.
        """
        import torch  # here, not at the top: search reads the vocabulary and the app starts before torch loads

        probs = torch.from_numpy(np.ascontiguousarray(class_probs, dtype=np.float32))
        return torch.clamp_max(probs @ torch.from_numpy(self.matrix), 1.0).numpy()

    def bird_probability(self, class_probs: np.ndarray) -> np.ndarray:
        """The backbone's own answer: the summed probability of ImageNet's 59 bird classes."""
        return np.asarray(class_probs)[:, list(self.bird_classes)].sum(axis=1)


@lru_cache(maxsize=4)
def load_vocabulary(path: Path | None = None) -> Vocabulary:
    path = Path(path) if path else config.resources_dir() / "imagenet_words.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    classes = data["classes"]
    carriers: dict[str, set[int]] = {}
    shown: set[str] = set()
    for i, c in enumerate(classes):
        name = normalize_word(c["name"])
        display = DISPLAY_NAMES.get(name, name)
        extra = EXTRA_CLASS_WORDS.get(name, ())
        shown.update(display if w == name else w for w in map(normalize_word, c.get("heads", c["words"])))
        dropped = DROPPED_CLASS_WORDS.get(name, frozenset()) | {name}
        for w in [display, *extra, *(normalize_word(w) for w in c["words"] if normalize_word(w) not in dropped)]:
            carriers.setdefault(w, set()).add(i)
    shown -= HIDDEN
    # one stored word per set of classes: the first shown word that carries exactly them (a class name or an
    # ancestor's headword), the others its aliases
    canonical: dict[frozenset[int], str] = {}
    for w, cs in carriers.items():
        key = frozenset(cs)
        if key not in canonical or (w in shown and canonical[key] not in shown):
            canonical[key] = w
    words = [w for w in carriers if canonical[frozenset(carriers[w])] == w]
    aliases = {w: canonical[frozenset(cs)] for w, cs in carriers.items() if canonical[frozenset(cs)] != w}
    matrix = np.zeros((len(classes), len(words)), dtype=np.float32)
    for j, w in enumerate(words):
        matrix[sorted(carriers[w]), j] = 1.0
    return Vocabulary(
        class_names=tuple(DISPLAY_NAMES.get(normalize_word(c["name"]), normalize_word(c["name"])) for c in classes),
        words=tuple(words),
        matrix=matrix,
        bird_classes=tuple(data["bird_classes"]),
        word_index={w: j for j, w in enumerate(words)},
        shown=np.array([w in shown for w in words], dtype=bool),
        class_count=matrix.sum(axis=0),
        aliases=aliases,
    )


# --------------------------------------------------------------------------------------------------------------
# Everyday words and the lexicon


@dataclass(frozen=True)
class EverydayWord:
    """A word with a head of its own (``resources/everyday_words.json``)."""

    word: str
    kind: WordKind
    #: The COCO category whose photos teach it, or the caption pattern that does (a scene or people word).
    coco: str | None
    caption: str | None
    #: More general words that also find it ("vehicle" finds a car).
    parents: tuple[str, ...]
    #: Other words people type for it ("sofa" for couch); one that is a word itself also finds it.
    synonyms: tuple[str, ...]
    #: Backbone classes (display names) that count as evidence for it.
    imagenet: tuple[str, ...]


@lru_cache(maxsize=4)
def load_everyday(path: Path | None = None) -> tuple[EverydayWord, ...]:
    path = Path(path) if path else config.resources_dir() / "everyday_words.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    return tuple(
        EverydayWord(
            word=normalize_word(w["word"]),
            kind=WordKind(w["kind"]),
            coco=w.get("coco"),
            caption=w.get("caption"),
            parents=tuple(normalize_word(x) for x in w.get("parents", ())),
            synonyms=tuple(normalize_word(x) for x in w.get("synonyms", ())),
            imagenet=tuple(normalize_word(x) for x in w.get("imagenet", ())),
        )
        for w in data["words"]
    )


#: Other words people type for ImageNet words (the everyday words bring their own).
ALIASES = {
    "doggy": "dog",
    "hound": "hound dog",
    "kitty": "cat",
    "aircraft": "airplane",
    "veggie": "vegetable",
    "veg": "vegetable",
    "bunny": "rabbit",
    "flower": "flower",
    "birdy": "bird",
}
#: Plurals that no rule makes.
IRREGULAR = {
    "geese": "goose",
    "mice": "mouse",
    "children": "child",
    "people": "person",
    "men": "man",
    "women": "woman",
    "teeth": "tooth",
    "feet": "foot",
    "oxen": "ox",
    "wolves": "wolf",
    "knives": "knife",
    "leaves": "leaf",
    "loaves": "loaf",
    "calves": "calf",
    "halves": "half",
    "shelves": "shelf",
    "cacti": "cactus",
    "fungi": "fungus",
}
#: The word the bird model answers (not a stored label: the active bird model and the user's own marks decide).
BIRD_WORD = "bird"


def singular_forms(word: str) -> list[str]:
    """Candidate singulars of ``word``, most likely first (the caller keeps the first it knows)."""
    out = [word]
    if word in IRREGULAR:
        out.append(IRREGULAR[word])
    if word.endswith("ies") and len(word) > 4:
        out.append(word[:-3] + "y")
    if word.endswith("ves") and len(word) > 4:
        out += [word[:-3] + "f", word[:-3] + "fe"]
    if word.endswith("es") and len(word) > 3:
        out.append(word[:-2])
    if word.endswith("s") and not word.endswith("ss") and len(word) > 2:
        out.append(word[:-1])
    return out


@dataclass(frozen=True)
class Lexicon:
    """Every word the models can write for a photo, which are shown, and how what a user types finds one.

    A typed phrase is matched as a phrase first ("hot dog" is one word, not "hot" and "dog"), then with its last
    word made singular ("birds", "children"), then through aliases ("sofa" is a couch, "kids" a child).
    """

    kinds: dict[str, WordKind]
    hidden: frozenset[str]
    aliases: dict[str, str]
    #: For each everyday word, the other words its probability also counts for (parents and synonyms that are
    #: words in their own right): a photo with a car is a photo with a vehicle.
    lifts: dict[str, tuple[str, ...]]
    #: A synonym that is a word in its own right -> the everyday word it means; shown only without that word
    #: ("television" is not shown beside "tv").
    synonym_of: dict[str, str]

    def is_shown(self, word: str) -> bool:
        return word not in self.hidden

    def knows(self, word: str) -> bool:
        """Whether the models can write ``word`` (a place of the library may share a name with one: "turkey")."""
        return word in self.kinds

    def shown(self, labels: dict[str, float], threshold: float) -> dict[str, float]:
        """The words of a photo worth showing: probable enough for a search to find the photo by them, not
        hidden, and not a synonym of a word shown beside them."""
        return {
            w: p
            for w, p in labels.items()
            if p >= threshold and w not in self.hidden and self.synonym_of.get(w) not in labels
        }

    def resolve(self, phrase: str, extra: frozenset[str] = frozenset()) -> str | None:
        """The word a typed phrase means, or None. ``extra``: words of this library (places, names)."""
        phrase = normalize_word(phrase)
        head, last = phrase.rsplit(" ", 1) if " " in phrase else ("", phrase)
        candidates = [f"{head} {s}".strip() for s in singular_forms(last)]
        for cand in candidates:
            if cand in self.kinds or cand in extra:
                return cand
        for cand in candidates:
            if cand in self.aliases:
                return self.aliases[cand]
        return None


@lru_cache(maxsize=2)
def load_lexicon() -> Lexicon:
    vocabulary = load_vocabulary()
    everyday = load_everyday()
    kinds: dict[str, WordKind] = dict.fromkeys(vocabulary.words, WordKind.THING)
    kinds[BIRD_WORD] = WordKind.THING
    hidden = {w for w, shown in zip(vocabulary.words, vocabulary.shown, strict=True) if not shown}
    for e in everyday:
        kinds[e.word] = e.kind
        hidden.discard(e.word)
    lifts: dict[str, tuple[str, ...]] = {}
    aliases: dict[str, str] = {}
    synonym_of: dict[str, str] = {}
    for e in everyday:
        for p in e.parents:
            kinds.setdefault(p, e.kind)
    for e in everyday:
        lifted = list(e.parents)
        for syn in e.synonyms:
            if syn in kinds:
                lifted.append(syn)  # a word in its own right ("stove", "cattle"): it finds this one too
                synonym_of.setdefault(syn, e.word)
            else:
                aliases.setdefault(syn, e.word)
        lifts[e.word] = tuple(dict.fromkeys(w for w in lifted if w != e.word))
    for alias, word in [*vocabulary.aliases.items(), *ALIASES.items()]:
        word = vocabulary.aliases.get(word, word)
        if alias not in kinds and word in kinds:
            aliases.setdefault(alias, word)
    return Lexicon(
        kinds=kinds, hidden=frozenset(hidden & kinds.keys()), aliases=aliases, lifts=lifts, synonym_of=synonym_of
    )
