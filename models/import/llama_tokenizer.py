"""A LLaMA-family tokenizer.json (SentencePiece-style BPE with byte fallback) without the `tokenizers` package:
training a tiny one for fabricated checkpoints, and encoding/decoding with Hugging Face's semantics for this
model type, so the reference forward and the fixtures have exact prompt ids.

Semantics mirrored (tokenizers' BPE model + the LLaMA normalizer, legacy form): added tokens are cut out of the
raw text first; every other piece is normalized separately (prepend "▁", spaces -> "▁"); each piece is one BPE
word whose symbols are its characters (a character missing from the vocabulary becomes its UTF-8 bytes <0xXX>);
the adjacent pair with the lowest merge rank is merged, leftmost first, until none is left. Only ASCII-range
behaviour is exercised by the fixtures; the Java tokenizer's own tests cover the rest.
"""
from __future__ import annotations

import collections
import json

SPIECE = "\u2581"
BYTE_TOKENS = [f"<0x{b:02X}>" for b in range(256)]


def train(corpus: list[str], merges: int, added: list[str]):
    """vocab: <unk> <s> </s>, the 256 byte tokens, every character of the corpus, then one piece per merge
    (LLaMA's order), then `added` (NExT-Chat's tokens, appended by tokenizer.add_tokens)."""
    words = collections.Counter()
    for line in corpus:
        for w in line.split():
            words[SPIECE + w] += 1
    vocab = ["<unk>", "<s>", "</s>"] + BYTE_TOKENS
    chars = sorted({ch for w in words for ch in w})
    vocab += [c for c in chars if c not in vocab]
    seqs = {w: list(w) for w in words}
    merge_list = []
    for _ in range(merges):
        pairs = collections.Counter()
        for w, n in words.items():
            s = seqs[w]
            for a, b in zip(s, s[1:]):
                pairs[(a, b)] += n
        if not pairs:
            break
        (a, b), _ = max(pairs.items(), key=lambda kv: (kv[1], -len(kv[0][0] + kv[0][1]), kv[0]))
        merge_list.append((a, b))
        if a + b not in vocab:
            vocab.append(a + b)
        for w in words:
            s, out, i = seqs[w], [], 0
            while i < len(s):
                if i + 1 < len(s) and s[i] == a and s[i + 1] == b:
                    out.append(a + b)
                    i += 2
                else:
                    out.append(s[i])
                    i += 1
            seqs[w] = out
    vocab += added
    return vocab, merge_list


def tokenizer_json(vocab: list[str], merges: list[tuple[str, str]], added: list[str]) -> dict:
    """The shape of a LLaMA tokenizer.json as transformers' LlamaConverter writes it (legacy normalizer form).
    NExT-Chat's tokens get lstrip/rstrip: its slow LlamaTokenizer drops the spaces around added special tokens
    ("Answer: <at> <boxes>." -> Answer, :, <at>, <boxes>, .), and these flags say the same in tokenizer.json."""
    ids = {t: i for i, t in enumerate(vocab)}

    def added_entry(t, special, strip=False):
        return {"id": ids[t], "content": t, "single_word": False, "lstrip": strip, "rstrip": strip,
                "normalized": False, "special": special}
    bpe_vocab = {t: i for t, i in ids.items() if t not in added}
    return {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [added_entry(t, True) for t in ("<unk>", "<s>", "</s>")] + [added_entry(t, True, True) for t in added],
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "Prepend", "prepend": SPIECE},
            {"type": "Replace", "pattern": {"String": " "}, "content": SPIECE}]},
        "pre_tokenizer": None,
        "post_processor": {"type": "TemplateProcessing",
                           "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                                      {"Sequence": {"id": "A", "type_id": 0}}],
                           "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                                    {"Sequence": {"id": "A", "type_id": 0}},
                                    {"SpecialToken": {"id": "<s>", "type_id": 1}},
                                    {"Sequence": {"id": "B", "type_id": 1}}],
                           "special_tokens": {"<s>": {"id": "<s>", "ids": [ids["<s>"]], "tokens": ["<s>"]}}},
        "decoder": {"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"String": SPIECE}, "content": " "},
            {"type": "ByteFallback"}, {"type": "Fuse"},
            {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
        "model": {"type": "BPE", "dropout": None, "unk_token": "<unk>", "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": True, "byte_fallback": True,
                  "vocab": bpe_vocab, "merges": [f"{a} {b}" for a, b in merges]},
    }


class LlamaTokenizer:
    def __init__(self, spec: dict):
        m = spec["model"]
        self.vocab = dict(m["vocab"])
        for a in spec["added_tokens"]:
            self.vocab[a["content"]] = a["id"]
        self.inv = {i: t for t, i in self.vocab.items()}
        merges = [tuple(x.split(" ", 1)) if isinstance(x, str) else tuple(x) for x in m["merges"]]
        self.ranks = {p: r for r, p in enumerate(merges)}
        # longest first, so "<im_start>" is not cut by a shorter added token that prefixes it
        self.added = sorted((a["content"] for a in spec["added_tokens"]), key=len, reverse=True)
        self.strip = {a["content"]: (a.get("lstrip", False), a.get("rstrip", False)) for a in spec["added_tokens"]}
        self.special = {a["content"] for a in spec["added_tokens"] if a.get("special")}
        self.bos = self.vocab.get("<s>")

    @staticmethod
    def load(path):
        with open(path, encoding="utf-8") as f:
            return LlamaTokenizer(json.load(f))

    def _split_added(self, text):
        out, i, start = [], 0, 0
        while i < len(text):
            hit = next((a for a in self.added if text.startswith(a, i)), None)
            if hit:
                lstrip, rstrip = self.strip[hit]
                before = text[start:i].rstrip() if lstrip else text[start:i]
                if before:
                    out.append((False, before))
                out.append((True, hit))
                i += len(hit)
                if rstrip:
                    while i < len(text) and text[i].isspace():
                        i += 1
                start = i
            else:
                i += 1
        if start < len(text):
            out.append((False, text[start:]))
        return out

    def _bpe(self, word):
        syms = []
        for ch in word:
            if ch in self.vocab:
                syms.append(ch)
            else:
                syms += [f"<0x{b:02X}>" for b in ch.encode("utf-8")]
        while len(syms) > 1:
            best = min(((self.ranks.get((a, b), None), i) for i, (a, b) in enumerate(zip(syms, syms[1:]))
                        if (a, b) in self.ranks), default=None)
            if best is None:
                break
            i = best[1]
            syms[i:i + 2] = [syms[i] + syms[i + 1]]
        return [self.vocab.get(s, self.vocab["<unk>"]) for s in syms]

    def encode(self, text, add_bos=True):
        ids = [self.bos] if add_bos else []
        for is_added, piece in self._split_added(text):
            if is_added:
                ids.append(self.vocab[piece])
            else:
                ids += self._bpe(SPIECE + piece.replace(" ", SPIECE))
        return ids

    def decode(self, ids, skip_special=True):
        """tokenizers' decode: special added tokens dropped when skip_special; runs of <0xXX> become their UTF-8
        text, or one U+FFFD per byte token when the run is not valid UTF-8 (the ByteFallback decoder)."""
        out, pending = [], []

        def flush():
            raw = bytes(pending)
            try:
                out.append(raw.decode("utf-8"))
            except UnicodeDecodeError:
                out.append("\ufffd" * len(pending))
            pending.clear()
        for i in ids:
            t = self.inv[i]
            if t.startswith("<0x") and len(t) == 6:
                pending.append(int(t[3:5], 16))
                continue
            if pending:
                flush()
            if skip_special and t in self.special:
                continue
            out.append(t.replace(SPIECE, " "))
        if pending:
            flush()
        s = "".join(out)
        return s[1:] if s.startswith(" ") else s
