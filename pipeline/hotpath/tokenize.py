"""WordPiece tokenisation for the classifiers, shared by serving and the model build.

The tokenizer bundled with all-MiniLM-L6-v2 pads every input to 128 tokens. Real texts are short
(tweets ~33 tokens, transactions ~20), and encoder cost grows with sequence length, so a batch is
padded only to its longest text and truncated to ``max_tokens``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
from tokenizers import Tokenizer

# BERT position embeddings stop at 512.
MAX_POSITIONS = 512


class TokenBatch(NamedTuple):
    """int64 arrays [B, L], L = longest text of the batch after truncation."""

    input_ids: np.ndarray
    attention_mask: np.ndarray


class Word(NamedTuple):
    """A readable word of the input and the vocabulary pieces it was split into."""

    text: str
    pieces: tuple[str, ...]


class TextTokenizer:
    """Wraps a HF ``tokenizers.Tokenizer``: dynamic padding, truncation, word grouping."""

    def __init__(self, tokenizer: Tokenizer, *, max_tokens: int = 128) -> None:
        if not 2 < max_tokens <= MAX_POSITIONS:
            raise ValueError(f"max_tokens must be in 3..{MAX_POSITIONS}, got {max_tokens}")
        self.max_tokens = max_tokens
        self._tokenizer = tokenizer
        self._tokenizer.enable_truncation(max_length=max_tokens)
        # No length: pads to the longest encoding of each encode_batch call.
        pad_id = tokenizer.token_to_id("[PAD]")
        self._tokenizer.enable_padding(pad_id=0 if pad_id is None else pad_id, pad_token="[PAD]")

    @classmethod
    def from_file(cls, path: Path, *, max_tokens: int = 128) -> TextTokenizer:
        return cls(Tokenizer.from_file(str(path)), max_tokens=max_tokens)

    @property
    def vocab_size(self) -> int:
        return int(self._tokenizer.get_vocab_size())

    def encode(self, texts: Sequence[str]) -> TokenBatch:
        if not texts:
            empty = np.zeros((0, 0), dtype=np.int64)
            return TokenBatch(empty, empty.copy())
        encodings = self._tokenizer.encode_batch(list(texts))
        input_ids = np.array([e.ids for e in encodings], dtype=np.int64)
        attention_mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        return TokenBatch(input_ids, attention_mask)

    def piece_ids(self, texts: Sequence[str]) -> list[list[int]]:
        """Vocabulary ids of each text, without [CLS]/[SEP] or padding (for build-time statistics)."""
        encodings = self._tokenizer.encode_batch(list(texts), add_special_tokens=False)
        return [e.ids[: sum(e.attention_mask)] for e in encodings]

    def vocabulary(self) -> list[str]:
        """Piece strings indexed by id."""
        pieces = [""] * self.vocab_size
        for piece, index in self._tokenizer.get_vocab().items():
            pieces[index] = piece
        return pieces

    def words(self, text: str) -> list[Word]:
        """The text's words (original spelling) with their pieces; '##' continuations are merged."""
        encoding = self._tokenizer.encode(text, add_special_tokens=False)
        words: list[Word] = []
        current_id: int | None = None
        start = end = 0
        pieces: list[str] = []
        for word_id, token, (tok_start, tok_end) in zip(
            encoding.word_ids, encoding.tokens, encoding.offsets, strict=True
        ):
            if word_id is None:
                continue
            if word_id != current_id and pieces:
                words.append(Word(text[start:end], tuple(pieces)))
                pieces = []
            if not pieces:
                current_id, start = word_id, tok_start
            pieces.append(token)
            end = tok_end
        if pieces:
            words.append(Word(text[start:end], tuple(pieces)))
        return words

    def save(self, path: Path) -> None:
        """Writes tokenizer.json without padding or truncation: the loader sets both at runtime."""
        plain = Tokenizer.from_str(self._tokenizer.to_str())
        plain.no_padding()
        plain.no_truncation()
        plain.save(str(path))
