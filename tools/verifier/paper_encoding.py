"""How a (claim, paper) pair becomes the paper-level stance model's input — shared by training and runtime.

One sequence per pair, in the framing of MultiVerS: the claim, the title, then every sentence of the
abstract, each closed by a ``[SEP]`` whose hidden state stands for that sentence::

    [CLS] claim [SEP] title [SEP] s1 [SEP] s2 [SEP] ... sn [SEP]

Token types are 0 for the claim part and 1 for the paper. When the pair does not fit in
``MAX_LENGTH`` tokens, long sentences are cut to ``MAX_SENTENCE`` tokens, then sentences are dropped
from the middle of the abstract — never the first, never the last ones, and never a sentence that
carries a turn ("however", "we show", "in contrast", …), so the paper's own findings stay in view.
Pure Python (the ``tokenizers`` package): nothing here imports torch.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

MAX_LENGTH = 320
MAX_CLAIM = 72
MAX_TITLE = 32
MAX_SENTENCE = 72
MAX_SENTENCES = 24

_TURN = re.compile(
    r"\b(however|but|contrary|in contrast|instead|surprisingly|we (?:show|find|found|demonstrate|observe|"
    r"argue|prove|reveal|report|conclude)|our (?:results|findings|analysis|experiments)|results (?:show|suggest|"
    r"indicate|reveal)|not|no|fail|fails|only)\b",
    re.I,
)


@dataclass
class Encoded:
    input_ids: list[int]
    token_type_ids: list[int]
    sentence_positions: list[int] = field(default_factory=list)  # index of each kept sentence's [SEP]
    kept: list[int] = field(default_factory=list)  # which of the abstract's sentences were kept, in order


def _priority(i: int, n: int, sentence: str) -> int:
    """Lower keeps first: the first sentence and the last two, then turn-bearing ones, then the rest."""
    if i == 0 or i >= n - 2:
        return 0
    if _TURN.search(sentence):
        return 1
    return 2


class PairEncoder:
    """Encodes (claim, title, sentences) with a BERT WordPiece ``tokenizers.Tokenizer``."""

    def __init__(self, tokenizer, max_length: int = MAX_LENGTH):
        tokenizer.no_padding()
        tokenizer.no_truncation()
        self.tok = tokenizer
        self.max_length = max_length
        self.cls = tokenizer.token_to_id("[CLS]")
        self.sep = tokenizer.token_to_id("[SEP]")
        self.pad = tokenizer.token_to_id("[PAD]") or 0

    def _ids(self, texts: Sequence[str]) -> list[list[int]]:
        if not texts:
            return []
        return [e.ids for e in self.tok.encode_batch(list(texts), add_special_tokens=False)]

    def encode(self, claim: str, title: str, sentences: Sequence[str]) -> Encoded:
        sentences = list(sentences)[:MAX_SENTENCES]
        ids = self._ids([claim or "", title or ""] + sentences)
        c_ids, t_ids, s_ids = ids[0][:MAX_CLAIM], ids[1][:MAX_TITLE], [s[:MAX_SENTENCE] for s in ids[2:]]
        head = 1 + len(c_ids) + 1 + len(t_ids) + 1
        budget = self.max_length - head
        n = len(s_ids)
        keep = set(range(n))
        total = sum(len(s) + 1 for s in s_ids)
        if total > budget:
            order = sorted(range(n), key=lambda i: (_priority(i, n, sentences[i]), i))
            # drop from the back of the priority order (middle, non-turn sentences first)
            for i in reversed(order):
                if total <= budget:
                    break
                if len(keep) <= 1:
                    break
                keep.discard(i)
                total -= len(s_ids[i]) + 1
        kept = sorted(keep)
        input_ids = [self.cls] + c_ids + [self.sep] + t_ids + [self.sep]
        types = [0] * (len(c_ids) + 2) + [1] * (len(t_ids) + 1)
        positions: list[int] = []
        for i in kept:
            room = self.max_length - len(input_ids) - 1
            if room <= 0:
                break
            piece = s_ids[i][:room]
            input_ids += piece + [self.sep]
            types += [1] * (len(piece) + 1)
            positions.append(len(input_ids) - 1)
        kept = kept[: len(positions)]
        return Encoded(input_ids=input_ids, token_type_ids=types, sentence_positions=positions, kept=kept)
