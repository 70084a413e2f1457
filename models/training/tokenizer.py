"""Word-level tokenizer of the world's language, saved in Hugging Face `tokenizer.json` format."""
from __future__ import annotations

import json
import re

from world import COLORS, PLURALS, SHAPES, SIZES

SPECIAL_TOKENS = ["<pad>", "<unk>", "<image>", "<at>", "<boxes>", "<user>", "<assistant>", "<end>", "<p>", "</p>"]
PUNCTUATION = [",", ".", "?", ":", "!", ";"]
WORDS = sorted(set(
    "where is the a an this what color shape how many are there objects object yes no find all segment describe "
    "image and of left right above below leftmost rightmost topmost bottommost first second third from top bottom "
    "none locate show me it".split()
    + SHAPES + list(PLURALS.values()) + list(COLORS) + list(SIZES) + [str(d) for d in range(10)]))
VOCAB = SPECIAL_TOKENS + PUNCTUATION + WORDS
_PIECE = re.compile(r"\w+|[^\w\s]")


class WordTokenizer:
    def __init__(self, vocab=VOCAB):
        self.vocab = list(vocab)
        self.ids = {t: i for i, t in enumerate(self.vocab)}
        self.unk = self.ids["<unk>"]

    def __len__(self):
        return len(self.vocab)

    def id(self, token):
        return self.ids[token]

    def encode(self, text: str):
        """Lowercase, keep special tokens whole, split words and isolate punctuation (as tokenizer.json does)."""
        out = []
        for chunk in text.lower().split():
            if chunk in self.ids and chunk.startswith("<"):
                out.append(self.ids[chunk])
                continue
            for piece in _PIECE.findall(chunk):
                out.append(self.ids.get(piece, self.unk))
        return out

    def decode(self, ids):
        return " ".join(self.vocab[i] for i in ids)

    def to_hf_json(self):
        added = [{"id": self.ids[t], "content": t, "single_word": False, "lstrip": False, "rstrip": False,
                  "normalized": False, "special": True} for t in SPECIAL_TOKENS]
        return {
            "version": "1.0",
            "truncation": None,
            "padding": None,
            "added_tokens": added,
            "normalizer": {"type": "Lowercase"},
            "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
                {"type": "WhitespaceSplit"},
                {"type": "Punctuation", "behavior": "Isolated"},
            ]},
            "post_processor": None,
            "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": True},
            "model": {"type": "WordLevel", "vocab": dict(self.ids), "unk_token": "<unk>"},
        }

    def save(self, directory):
        with open(f"{directory}/tokenizer.json", "w") as f:
            json.dump(self.to_hf_json(), f, indent=1)
        with open(f"{directory}/tokenizer_config.json", "w") as f:
            json.dump({"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": 320,
                       "unk_token": "<unk>", "pad_token": "<pad>", "eos_token": "<end>",
                       "additional_special_tokens": SPECIAL_TOKENS[2:]}, f, indent=1)
