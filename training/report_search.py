"""Search quality per query on everyday photos, through the ``photobird`` command as a user would type it.

The per-category table of training/README.md: for each COCO category with at least 8 photos in the set, and for
the scene and people words ``../shared/tools/eval_search.py`` scores (a photo has "beach" when two of its captions
say so), the search's precision, recall, F1 and average precision. Average precision is over the ranked results
the search returns (a photo it does not return counts as never found), so the old whole-image labels and the new
words are measured the same way. Run it once per version of the app and compare:

    python training/report_search.py --out runs/search-new.json
    PYTHONPATH=/path/to/old/checkout python training/report_search.py --out runs/search-old.json
    python training/report_search.py --table runs/search-old.json runs/search-new.json
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

#: The caption words ``eval_search.py`` scores, with its patterns.
CAPTION_WORDS = {
    "beach": r"beach(es)?",
    "street": r"streets?",
    "kitchen": r"kitchens?",
    "snow": r"snow(y)?",
    "water": r"water",
    "field": r"fields?",
    "room": r"rooms?",
    "city": r"city|cities",
    "building": r"buildings?",
    "tree": r"trees?",
    "road": r"roads?",
    "bathroom": r"bathrooms?",
    "grass": r"grass(y)?",
    "food": r"food",
    "child": r"child|children|kids?",
    "baby": r"bab(y|ies)",
    "people": r"people|persons?",
    "tennis": r"tennis",
    "baseball": r"baseball",
}
MIN_PHOTOS = 8


def truth(folder: Path) -> tuple[dict[str, set[str]], dict[str, set[str]], set[str]]:
    import csv

    with open(folder / "labels.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    cats: dict[str, set[str]] = {}
    for r in rows:
        for c in filter(None, r["categories"].split(";")):
            cats.setdefault(c, set()).add(r["file"])
    caps: dict[str, list[str]] = {}
    with open(folder / "captions.csv", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            caps.setdefault(r["file"], []).append(r["caption"].lower())
    words = {}
    for w, pat in CAPTION_WORDS.items():
        rx = re.compile(r"\b(" + pat + r")\b")
        words[w] = {f for f, cs in caps.items() if sum(bool(rx.search(c)) for c in cs) >= 2}
    return cats, words, set(caps)


def search(pb: list[str], query: str) -> list[tuple[str, float]]:
    out = subprocess.run([*pb, "search", query, "--json"], capture_output=True, text=True)
    hits = []
    for line in out.stdout.splitlines():
        if line.startswith("{"):
            d = json.loads(line)
            hits.append((os.path.basename(d["path"]), float(d["score"])))
    return hits


def scores(hits: list[tuple[str, float]], positives: set[str], universe: set[str]) -> dict[str, float]:
    ranked = [f for f, _ in hits if f in universe]
    tp = sum(f in positives for f in ranked)
    p = tp / len(ranked) if ranked else 0.0
    r = tp / len(positives)
    found, ap = 0, 0.0
    for k, f in enumerate(ranked, 1):
        if f in positives:
            found += 1
            ap += found / k
    return {
        "photos": len(positives),
        "hits": len(ranked),
        "precision": p,
        "recall": r,
        "f1": 2 * p * r / (p + r) if p + r else 0.0,
        "ap": ap / len(positives),
    }


def measure(folder: Path, library: Path | None) -> dict:
    images = folder / "images"
    lib = library or Path(tempfile.mkdtemp(prefix="pb-report-"))
    pb = [sys.executable, "-m", "photobird", "--library", str(lib)]
    if not (lib / ".indexed").exists():
        subprocess.run([*pb, "folders", "add", str(images)], check=True, capture_output=True)
        subprocess.run([*pb, "index"], check=True, capture_output=True)
        (lib / ".indexed").touch()
    cats, words, captioned = truth(folder)
    everything = {p.name for p in images.iterdir()}
    out: dict = {"categories": {}, "words": {}}
    for c, positives in sorted(cats.items(), key=lambda kv: -len(kv[1])):
        if len(positives) >= MIN_PHOTOS:
            out["categories"][c] = scores(search(pb, c), positives, everything)
    for w, positives in words.items():
        if len(positives) >= MIN_PHOTOS:
            out["words"][w] = scores(search(pb, w), positives, captioned)
    for group in ("categories", "words"):
        rows = list(out[group].values())
        out[f"{group}_macro"] = {k: sum(r[k] for r in rows) / len(rows) for k in ("precision", "recall", "f1", "ap")}
    return out


def table(old: dict, new: dict) -> str:
    lines = [
        "| query | photos | old P | old R | old F1 | old AP | new P | new R | new F1 | new AP |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for group, title in (("categories", "COCO categories"), ("words", "caption words")):
        for q, n in new[group].items():
            o = old[group].get(q, {"precision": 0, "recall": 0, "f1": 0, "ap": 0})
            lines.append(
                f"| {q} | {n['photos']} | {o['precision']:.2f} | {o['recall']:.2f} | {o['f1']:.2f} | {o['ap']:.2f} | "
                f"{n['precision']:.2f} | {n['recall']:.2f} | {n['f1']:.2f} | {n['ap']:.2f} |"
            )
        om, nm = old[f"{group}_macro"], new[f"{group}_macro"]
        lines.append(
            f"| **{title}, macro** | | {om['precision']:.3f} | {om['recall']:.3f} | {om['f1']:.3f} | {om['ap']:.3f} | "
            f"**{nm['precision']:.3f}** | **{nm['recall']:.3f}** | **{nm['f1']:.3f}** | **{nm['ap']:.3f}** |"
        )
    return "\n".join(lines)


def main() -> None:
    from photobird import config

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=None, help="default: the shared everyday-dev")
    p.add_argument("--library", type=Path, default=None, help="keep (and reuse) the indexed library here")
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--table", type=Path, nargs=2, metavar=("OLD", "NEW"), help="print the side-by-side table")
    args = p.parse_args()
    if args.table:
        print(table(json.loads(args.table[0].read_text()), json.loads(args.table[1].read_text())))
        return
    result = measure(args.data or config.shared_data_dir() / "everyday-dev", args.library)
    for group in ("categories", "words"):
        m = result[f"{group}_macro"]
        print(f"{group}: macro P {m['precision']:.3f} R {m['recall']:.3f} F1 {m['f1']:.3f} AP {m['ap']:.3f}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
