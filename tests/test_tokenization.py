"""utils.tokenization: round trips for any text, deterministic training, clear errors."""

import itertools
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from utils import tokenization as T

TRAIN = (
    "the cat sat on the mat. the cat ate the rat! "
    "héllo wörld, 日本語のテキスト, مرحبا بالعالم 👋🏽👋🏽 \t\n\n   tabs and   spaces\n"
) * 5

# Any Unicode: every category, lone surrogates included, and whitespace-heavy strings.
ANY_TEXT = st.one_of(
    st.text(st.characters(codec=None), max_size=60),
    st.text(st.sampled_from(" \t\n\r\x00\u200fa日👋é\u0301"), max_size=60),
    st.text(st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), max_size=4),
)


@pytest.fixture(scope="module")
def tok():
    return T.BPETokenizer().train(TRAIN, vocab_size=300)


@settings(max_examples=300, deadline=None)
@given(ANY_TEXT)
def test_bpe_round_trip_on_any_text(tok, text):
    assert tok.decode(tok.encode(text)) == text


@settings(max_examples=100, deadline=None)
@given(ANY_TEXT)
def test_pretokenize_covers_every_character(text):
    assert "".join(T.pretokenize(text)) == text


def test_known_round_trips(tok):
    for text in [
        "",
        " ",
        "\n\n\n",
        "a" * 500,
        "   leading",
        "trailing   ",
        "👋🏽 日本 مرحبا \x00\x7f",
    ]:
        assert tok.decode(tok.encode(text)) == text


def test_training_learns_frequent_pairs_first(tok):
    assert tok.vocab_size == 300 and len(tok.merges) == 44
    chunks = Counter(T.pretokenize(TRAIN))
    pairs = Counter()
    for chunk, n in chunks.items():
        data = T.to_bytes(chunk)
        for p in itertools.pairwise(data):
            pairs[p] += n
    best = min(pairs, key=lambda p: (-pairs[p], p))  # most frequent, ties to the smaller pair
    assert tok.merges[0] == best
    assert len(tok.encode("the cat sat on the mat.")) < len(b"the cat sat on the mat.")


def test_training_is_deterministic_and_methods_agree():
    a = T.BPETokenizer().train(TRAIN, 320)
    b = T.BPETokenizer().train(TRAIN, 320)
    c = T.BPETokenizer().train(TRAIN, 320, method="naive")
    assert a == b == c
    assert a.merges == c.merges


@settings(max_examples=40, deadline=None)
@given(st.text(st.sampled_from("ab c\nde日👋"), max_size=80), st.integers(256, 300))
def test_fast_and_naive_training_agree_on_any_text(text, vocab_size):
    fast = T.BPETokenizer().train(text, vocab_size)
    naive = T.BPETokenizer().train(text, vocab_size, method="naive")
    assert fast.merges == naive.merges


def test_training_stops_when_no_pair_is_left():
    tok = T.BPETokenizer().train("ab", 1000)
    assert tok.merges == [(97, 98)] and tok.vocab_size == 257


def test_merge():
    assert T.merge([1, 2, 3, 1, 2], (1, 2), 9) == [9, 3, 9]
    assert T.merge([1, 1, 1], (1, 1), 7) == [7, 1]  # left to right, no overlaps


def test_save_and_load(tmp_path, tok):
    path = tok.save(tmp_path / "bpe.json")
    loaded = T.BPETokenizer.load(path)
    assert loaded == tok and loaded.vocab == tok.vocab
    assert loaded.encode(TRAIN) == tok.encode(TRAIN)


def test_load_rejects_other_files(tmp_path):
    bad = tmp_path / "x.json"
    bad.write_text('{"format": "something-else"}')
    with pytest.raises(ValueError, match="not a tokenizer saved"):
        T.BPETokenizer.load(bad)
    bad.write_text('{"format": "course-bpe", "version": 1, "pattern": " ", "merges": [[999, 1]]}')
    with pytest.raises(ValueError, match="does not exist yet"):
        T.BPETokenizer.load(bad)
    for broken in [
        '{"format": "course-bpe", "version": 1, "merges": []}',
        '{"format": "course-bpe", "version": 1, "pattern": " ", "merges": [[1.5, 2]]}',
        '{"format": "course-bpe", "version": 1, "pattern": " ", "merges": [[97, 98], [97, 98]]}',
        "[1, 2]",
    ]:
        bad.write_text(broken)
        with pytest.raises(ValueError):
            T.BPETokenizer.load(bad)


@pytest.mark.parametrize("size", [255, 0, -1])
def test_vocab_size_below_256_is_refused(size):
    with pytest.raises(ValueError, match=f"vocab_size must be an int >= 256 .*, got {size}"):
        T.BPETokenizer().train("abc", size)


@pytest.mark.parametrize("size", [256.0, 2.5, True, "300"])
def test_vocab_size_must_be_an_int(size):
    with pytest.raises(TypeError, match="vocab_size must be an int, got"):
        T.BPETokenizer().train("abc", size)


def test_untrained_tokenizer_refuses_to_encode_or_save(tmp_path):
    with pytest.raises(RuntimeError, match="not trained"):
        T.BPETokenizer().encode("hello")
    with pytest.raises(RuntimeError, match="not trained"):
        T.BPETokenizer().save(tmp_path / "x.json")


@pytest.mark.parametrize("bad", [[300], [-1]])
def test_decode_rejects_ids_out_of_range(tok, bad):
    with pytest.raises(ValueError, match=r"out of range: this tokenizer has ids 0\.\.299"):
        tok.decode(bad)


@pytest.mark.parametrize("bad", [[1.0], [True], ["a"]])
def test_decode_rejects_non_integers(tok, bad):
    with pytest.raises(TypeError, match="integers"):
        tok.decode(bad)


def test_decode_accepts_numpy_and_torch_integers(tok):
    import numpy as np
    import torch

    ids = tok.encode("the cat")
    assert tok.decode(np.array(ids)) == tok.decode(torch.tensor(ids).tolist()) == "the cat"
    assert tok.decode(list(torch.tensor(ids))) == "the cat"


def test_decode_of_half_a_character_is_replaced(tok):
    ids = list("é".encode())
    assert tok.decode(ids[:1]) == "\ufffd"


def test_bad_inputs(tok):
    with pytest.raises(TypeError, match="str"):
        tok.encode(b"bytes")
    with pytest.raises(ValueError, match="method"):
        T.BPETokenizer().train("abc", 300, method="magic")
    with pytest.raises(ValueError, match="does not cover"):
        T.pretokenize("a b", r"\w+")


def test_truncated(tok):
    small = tok.truncated(10)
    assert small.vocab_size == 266 and small.merges == tok.merges[:10]
    assert small.decode(small.encode(TRAIN)) == TRAIN
    assert len(small.encode(TRAIN)) > len(tok.encode(TRAIN))
    with pytest.raises(ValueError):
        tok.truncated(45)


def test_word_and_char_tokenizers():
    words = T.WordTokenizer().fit(["The cat, the dog.", "the cat"], max_size=3)
    assert words.itos == ["<unk>", "the", "cat"]
    assert words.encode("The bird") == [1, 0]
    assert words.decode([1, 0]) == "the <unk>"
    chars = T.CharTokenizer().fit("aab")
    assert chars.itos == ["<unk>", "a", "b"] and chars.encode("abc") == [1, 2, 0]
    with pytest.raises(RuntimeError, match="not fitted"):
        T.CharTokenizer().encode("x")
    with pytest.raises(ValueError, match="max_size"):
        T.WordTokenizer().fit("x", max_size=1)
    with pytest.raises(ValueError, match="out of range"):
        chars.decode([3])


def test_bytes_to_unicode_is_gpt2s():
    mapping = T.bytes_to_unicode()
    assert len(set(mapping.values())) == 256
    assert mapping[ord(" ")] == "Ġ" and mapping[ord("\n")] == "Ċ" and mapping[ord("A")] == "A"
    assert T.unicode_to_bytes("Ġworld") == b" world"
    with pytest.raises(ValueError, match="not a byte-level token"):
        T.unicode_to_bytes("€")


def test_same_vocabulary_as_huggingface_bpe_with_gpt2_pre_tokenization():
    """Same algorithm, same pre-tokenization (GPT-2's, written for `re`), same data: same merges."""
    from utils import data

    gpt2 = r"'s|'t|'re|'ve|'m|'ll|'d| ?[^\W\d_]+| ?\d+| ?(?:[^\s\w]|_)+|\s+(?!\S)|\s+"
    articles = data.news_corpus()
    theirs = T.huggingface_vocabulary(T.train_huggingface_bpe(articles, 1256))
    ours = set(T.BPETokenizer(gpt2).train(articles, 1256).vocab.values())
    assert ours == theirs


def test_token_bytes_are_the_bytes_each_token_stands_for(tok):
    assert tok.token_bytes(ord("a")) == b"a" and tok.token_bytes(0) == b"\x00"
    for k, (a, b) in enumerate(tok.merges):  # a merged token is its two parts, in order
        assert tok.token_bytes(256 + k) == tok.token_bytes(a) + tok.token_bytes(b)
    assert len(tok.token_bytes(tok.vocab_size - 1)) > 1
    text = "the cat sat. héllo 日本 👋🏽"
    ids = tok.encode(text)
    assert b"".join(tok.token_bytes(i) for i in ids) == T.to_bytes(text)
    with pytest.raises(ValueError, match=r"id 300 is out of range"):
        tok.token_bytes(300)
    with pytest.raises(TypeError, match="integers"):
        tok.token_bytes(1.0)


def test_compression_counts_by_hand():
    chars = T.CharTokenizer().fit("aab")  # ids: <unk> 0, a 1, b 2
    texts = ["abc", "é"]  # ids [1, 2, 0] and [0]: 4 tokens, 4 characters, 3 + 2 = 5 bytes
    assert T.compression(chars, texts, unk_id=0) == {
        "tokens": 4,
        "tokens_per_kchar": 1000.0,
        "bytes_per_token": 1.25,
        "unk_rate": 0.5,
    }
    assert T.compression(chars, texts)["unk_rate"] == 0.0  # no unk_id: nothing counted
    assert T.compression(chars, "abc")["tokens"] == 3  # one string is one text
    with pytest.raises(ValueError, match="no tokens"):
        T.compression(chars, [""])


def test_compression_of_bpe_agrees_with_its_token_bytes(tok):
    texts = [TRAIN, "héllo wörld"]
    ids = [i for t in texts for i in tok.encode(t)]
    stats = T.compression(tok, texts)
    assert stats["tokens"] == len(ids)
    assert stats["tokens_per_kchar"] == pytest.approx(1000 * len(ids) / sum(map(len, texts)))
    # every byte belongs to exactly one token: bytes per token is the tokens' mean length
    mean_length = sum(len(tok.token_bytes(i)) for i in ids) / len(ids)
    assert stats["bytes_per_token"] == pytest.approx(mean_length)
    assert stats["bytes_per_token"] > 1.5  # merges make tokens longer than single bytes
    assert T.compression(tok.truncated(0), texts)["bytes_per_token"] == 1.0
