"""From a photo's stored embedding to its searchable words, with no image in sight.

Two sources write words: the ImageNet classifier (a word's probability is the sum of its classes', so "dog"
gathers every breed; ``words.Vocabulary``) and the everyday heads (``nets.LabelHeads``: "person", "cell phone",
"beach", "people"). Where both have a word the head's answer wins: it was trained on everyday photos and already
weighs the ImageNet classes as evidence ("car" no longer finds a steam train's freight car). A head's answer
also counts for the words that find it (``Lexicon.lifts``: a car is a vehicle, a pizza is food).

Both sources read only the stored embedding, so ``Labeller.labels`` gives the same words when a photo is
analysed and when the library is re-labelled later with new heads: the indexer never decodes a photo for that.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

import numpy as np
import torch

from photobird.models import files, nets
from photobird.models.words import BIRD_WORD, Lexicon, Vocabulary

#: A stored word's probability must reach this to be kept (search asks for more: ``search.LABEL_THRESHOLD``).
MIN_LABEL_P = 0.05
#: The most words kept per photo, most probable first.
MAX_LABELS = 60


class Labeller:
    """The everyday heads and the ImageNet words, merged into one probability per word and photo."""

    def __init__(
        self,
        heads: files.LoadedModel,
        class_probabilities: Callable[[np.ndarray], torch.Tensor],
        vocabulary: Vocabulary,
        lexicon: Lexicon,
        spec: list,
        device: torch.device,
    ) -> None:
        if heads.meta.extra.get("embedding") != spec:
            raise files.ModelFileError(
                f"{heads.path}: label heads were trained on embeddings {heads.meta.extra.get('embedding')!r}, but "
                f"this PhotoBird computes {spec!r}; refusing them"
            )
        unknown = [w for w in heads.meta.classes if w not in lexicon.kinds]
        if unknown:
            raise files.ModelFileError(f"{heads.path}: words {unknown[:5]} are not in this PhotoBird's lexicon")
        module = heads.module
        assert isinstance(module, nets.LabelHeads)
        self.heads = heads
        self.module = module.to(device)
        self.device = device
        self.class_probabilities = class_probabilities
        self.lexicon = lexicon
        # one column per word either source can write ("bird" is the bird model's alone)
        head_words = list(heads.meta.classes)
        lifted = [w for h in head_words for w in lexicon.lifts.get(h, ())]
        columns = [w for w in dict.fromkeys([*vocabulary.words, *head_words, *lifted]) if w != BIRD_WORD]
        self.words = tuple(columns)
        col = {w: i for i, w in enumerate(columns)}
        imagenet = np.zeros((vocabulary.matrix.shape[0], len(columns)), np.float32)
        keep = [j for j, w in enumerate(vocabulary.words) if w != BIRD_WORD]
        imagenet[:, [col[vocabulary.words[j]] for j in keep]] = vocabulary.matrix[:, keep]
        self._imagenet = torch.from_numpy(imagenet).to(device)
        self._head_cols = torch.tensor([col[w] for w in head_words], device=device)
        pairs = [(k, col[w]) for k, h in enumerate(head_words) for w in lexicon.lifts.get(h, ())]
        self._lift_from = torch.tensor([k for k, _ in pairs], dtype=torch.long, device=device)
        self._lift_to = torch.tensor([c for _, c in pairs], dtype=torch.long, device=device)
        # among equally probable words, the more specific first (carried by fewer classes; heads count as one)
        count = imagenet.sum(0)
        count[[col[w] for w in head_words]] = 1
        self._specificity = count
        self.key = hashlib.sha256(
            json.dumps(
                {
                    "heads": heads.sha256,
                    "words": columns,
                    "lifts": {h: list(lexicon.lifts.get(h, ())) for h in head_words},
                    "min_p": MIN_LABEL_P,
                    "max": MAX_LABELS,
                },
                sort_keys=True,
            ).encode()
        ).hexdigest()

    @property
    def threshold(self) -> float:
        """The probability at which every head's chosen operating point lies (their calibration)."""
        return float(self.heads.meta.threshold if self.heads.meta.threshold is not None else 0.5)

    @torch.inference_mode()
    def probabilities(self, embeddings: np.ndarray) -> torch.Tensor:
        """(N, len(words)) probabilities, every source merged."""
        z = torch.from_numpy(np.asarray(embeddings, dtype=np.float32)).to(self.device)
        class_probs = self.class_probabilities(embeddings)
        out = (class_probs @ self._imagenet).clamp_(max=1.0)
        heads = torch.sigmoid(self.module(z, class_probs))
        out[:, self._head_cols] = heads
        if len(self._lift_to):
            out.scatter_reduce_(1, self._lift_to.expand(len(out), -1), heads[:, self._lift_from], "amax")
        return out

    def labels(self, embeddings: np.ndarray) -> list[dict[str, float]]:
        """Per photo, the words with probability >= ``MIN_LABEL_P``, most probable first (at most ``MAX_LABELS``)."""
        if len(embeddings) == 0:
            return []
        probs = np.round(self.probabilities(embeddings).cpu().numpy(), 4)
        out = []
        for row in probs:
            idx = np.flatnonzero(row >= MIN_LABEL_P)
            idx = idx[np.lexsort((self._specificity[idx], -row[idx]))][:MAX_LABELS]
            out.append({self.words[j]: float(row[j]) for j in idx})
        return out
