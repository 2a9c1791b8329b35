"""Vocabulary layer: exact token bytes, specials/EOS, canonical encode, token trie, masks.

Runs on the three shipped tokenizer families (SmolLM2 byte-level BPE, Mistral Tekken
byte-level BPE, Mistral v3 SentencePiece with byte fallback); fixtures in conftest.py.
"""

from __future__ import annotations

import json
import random
import time

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from constrain.tokens import Vocabulary  # noqa: E402

FAMILY_OF = {"smollm2": "bytelevel", "tekken": "bytelevel", "mistral": "sentencepiece"}
SIZE_OF = {"smollm2": 49152, "tekken": 131072, "mistral": 32768}


# ----------------------------------------------------------------------------- helpers


def node_strings(v: Vocabulary) -> np.ndarray:
    """uint8[N, max_depth]: the bytes of every trie node, built level by level from parents."""
    width = max(len(v.levels) - 1, 1)
    m = np.zeros((v.n_nodes, width), dtype=np.uint8)
    for d in range(1, len(v.levels)):
        nodes = v.levels[d]
        m[nodes, : d - 1] = m[v.trie_parent[nodes], : d - 1]
        m[nodes, d - 1] = v.trie_byte[nodes]
    return m


def check_trie(v: Vocabulary) -> None:
    n = v.n_nodes
    parent, depth, end, byte = v.trie_parent, v.trie_depth, v.trie_end, v.trie_byte
    assert parent.dtype == np.int32 and depth.dtype == np.int32 and end.dtype == np.int32
    assert byte.dtype == np.int16 and v.token_node.dtype == np.int32
    assert len(parent) == len(depth) == len(end) == len(byte) == n
    assert parent[0] == -1 and byte[0] == -1 and depth[0] == 0 and end[0] == n
    nodes = np.arange(1, n)
    # preorder: parents come first, depth grows by one, bytes are bytes
    assert np.all(parent[1:] < nodes) and np.all(parent[1:] >= 0)
    assert np.all(depth[1:] == depth[parent[1:]] + 1)
    assert np.all((byte[1:] >= 0) & (byte[1:] < 256))
    # subtree ranges: [v, end[v]) holds exactly v's descendants
    assert np.all(end[1:] > nodes) and np.all(end <= n)
    assert np.all(end[1:] <= end[parent[1:]])
    assert np.all(nodes >= parent[1:]) and np.all(nodes < end[parent[1:]])
    inner = end[1:] < n
    assert np.all(depth[end[1:][inner]] <= depth[1:][inner])  # first node after the subtree
    # the node right after v (if inside the subtree) is its first child, depth + 1
    has_desc = end > np.arange(n) + 1
    idx = np.flatnonzero(has_desc)
    assert np.all(parent[idx + 1] == idx)
    # levels
    assert np.array_equal(v.levels[0], [0])
    assert sum(len(lv) for lv in v.levels) == n
    for d, lv in enumerate(v.levels):
        assert lv.dtype == np.int32
        assert np.array_equal(lv, np.flatnonzero(depth == d))
    assert len(v.levels) == v.max_token_len + 1
    # children CSR, sorted by byte, consistent with parent
    assert v.child_ptr[0] == 0 and v.child_ptr[-1] == n - 1 and len(v.child_ptr) == n + 1
    counts = np.diff(v.child_ptr)
    owner = np.repeat(np.arange(n), counts)
    assert np.array_equal(parent[v.child_ids], owner)
    assert np.array_equal(v.child_bytes, byte[v.child_ids].astype(np.uint8))
    same = owner[1:] == owner[:-1]
    assert np.all(v.child_bytes[1:][same] > v.child_bytes[:-1][same])  # strictly sorted
    assert np.all(v.child_ids[1:][same] > v.child_ids[:-1][same])
    # tokens: path bytes from the root equal the token's bytes
    text = v.text_ids
    tn = v.token_node[text]
    assert np.all(tn > 0)
    assert np.all(v.token_node[v.token_lens == 0] == -1)
    assert np.array_equal(depth[tn], v.token_lens[text])
    strings = node_strings(v)
    padded = v.padded_bytes
    w = min(strings.shape[1], padded.shape[1])
    assert np.array_equal(strings[tn, :w], padded[text, :w])
    # node -> tokens CSR is the inverse of token_node
    assert v.node_token_ptr[-1] == len(text) == len(v.node_token_ids)
    cnt = np.diff(v.node_token_ptr)
    tok_owner = np.repeat(np.arange(n), cnt)
    assert np.array_equal(v.token_node[v.node_token_ids], tok_owner)
    # every leaf ends a token (no dangling prefixes)
    leaves = np.flatnonzero(counts == 0)
    assert np.all(cnt[leaves] > 0)


# ----------------------------------------------------------------------------- basics


def test_family_and_size(family):
    name, tok, v = family
    assert v.family == FAMILY_OF[name]
    assert v.size == len(tok) == SIZE_OF[name] == len(v)
    assert v.n_words == (v.size + 31) // 32
    assert len(v.token_bytes) == v.size
    assert v.eos_ids.dtype == np.int64 and v.special_ids.dtype == np.int64
    assert Vocabulary.from_hf(tok) is v  # cached per tokenizer


def test_specials_are_none_and_not_in_trie(family):
    name, tok, v = family
    specials = set(tok.all_special_ids)
    specials |= {i for i, t in tok.added_tokens_decoder.items() if t.special}
    assert specials, name
    for i in specials:
        assert v.token_bytes[i] is None, (name, i, tok.convert_ids_to_tokens(i))
        assert v.token_node[i] == -1
    assert not (set(v.node_token_ids.tolist()) & specials)
    assert set(specials) <= set(v.special_ids.tolist())
    assert len(v.text_ids) + len(v.special_ids) == v.size  # no padding here


def test_specials_by_family(smollm2_vocab, smollm2_tokenizer, tekken_vocab, tekken_tokenizer,
                            mistral_sp_vocab, mistral_sp_tokenizer):
    for s in ("<|im_start|>", "<|im_end|>", "<|endoftext|>", "<repo_name>", "<file_sep>"):
        assert smollm2_vocab.token_bytes[smollm2_tokenizer.convert_tokens_to_ids(s)] is None
    assert all(tekken_vocab.token_bytes[i] is None for i in range(1000))
    assert tekken_vocab.token_bytes[1000] == b"\x00" and tekken_vocab.token_bytes[1255] == b"\xff"
    assert len(tekken_vocab.special_ids) == 1000
    for s in ("<unk>", "<s>", "</s>", "[INST]", "[/INST]", "[TOOL_CALLS]", "[control_12]"):
        assert mistral_sp_vocab.token_bytes[mistral_sp_tokenizer.convert_tokens_to_ids(s)] is None
    # user-defined SentencePiece pieces are text (SentencePiece and mistral_common decode them)
    i = mistral_sp_tokenizer.convert_tokens_to_ids("[REFERENCE_DOC_0]")
    assert mistral_sp_vocab.token_bytes[i] == b"[REFERENCE_DOC_0]"


def test_eos_ids(smollm2_vocab, smollm2_tokenizer, tekken_vocab, mistral_sp_vocab):
    im_end = smollm2_tokenizer.convert_tokens_to_ids("<|im_end|>")
    eot = smollm2_tokenizer.convert_tokens_to_ids("<|endoftext|>")
    assert smollm2_tokenizer.eos_token_id == im_end
    assert set(smollm2_vocab.eos_ids.tolist()) == {im_end, eot}
    assert tekken_vocab.eos_ids.tolist() == [2]
    assert mistral_sp_vocab.eos_ids.tolist() == [2]
    for v in (smollm2_vocab, tekken_vocab, mistral_sp_vocab):
        assert all(v.token_bytes[i] is None for i in v.eos_ids)


SMOLLM2_MISSING = {0x04, 0x06, 0x13, 0x14, 0x16, 0x1D, 0xC0, 0xC1, 0xF1, 0xF2, *range(0xF5, 0x100)}


def test_single_byte_tokens(family):
    name, tok, v = family
    singles = {b[0] for b in v.token_bytes if b is not None and len(b) == 1}
    if name == "smollm2":
        # SmolLM2's vocabulary lacks 21 byte values altogether (no token contains them):
        # text with them (e.g. U+40000..U+BFFFF, lead byte 0xF1/0xF2) cannot be generated.
        assert v.missing_bytes == SMOLLM2_MISSING
        assert singles == set(range(256)) - SMOLLM2_MISSING
        with pytest.raises(ValueError, match="0x4"):
            v.encode("a\x04b")
        with pytest.raises(ValueError):
            v.encode("\U00040000")
    else:
        assert singles == set(range(256)) and not v.missing_bytes
    assert v.child_ptr[1] - v.child_ptr[0] == len(singles)  # the root: one child per byte


def test_byte_fallback_tokens(mistral_sp_vocab, mistral_sp_tokenizer):
    vocab = mistral_sp_tokenizer.get_vocab()
    for b in range(256):
        i = vocab[f"<0x{b:02X}>"]
        assert mistral_sp_vocab.token_bytes[i] == bytes([b])
    # duplicates share a trie node: <0x41> and "A"
    a_fb, a = vocab["<0x41>"], vocab["A"]
    assert mistral_sp_vocab.token_node[a_fb] == mistral_sp_vocab.token_node[a]
    assert {a_fb, a} <= set(mistral_sp_vocab.node_tokens(int(mistral_sp_vocab.token_node[a])).tolist())
    # "▁" is a space
    assert mistral_sp_vocab.token_bytes[vocab["▁"]] == b" "
    assert mistral_sp_vocab.token_bytes[vocab["▁▁"]] == b"  "


@pytest.fixture(scope="module")
def tekkenizer():
    """mistral_common's own Tekkenizer (tiktoken), the reference for ids and bytes."""
    from mistral_common.tokens.tokenizers.tekken import Tekkenizer

    from constrain.tokenizers import tekken_json_path

    return Tekkenizer.from_file(tekken_json_path())


@pytest.fixture(scope="module")
def mistral_sp_reference():
    """mistral_common's own SentencePieceTokenizer, the reference for ids."""
    from mistral_common.tokens.tokenizers.sentencepiece import SentencePieceTokenizer

    from constrain.tokenizers import mistral_sp_model_path

    return SentencePieceTokenizer(str(mistral_sp_model_path()))


def test_tekken_bytes_match_mistral_common(tekken_vocab, tekkenizer):
    tk = tekkenizer
    assert tk.n_words == tekken_vocab.size
    n_sp = tk.num_special_tokens
    mine = tekken_vocab.token_bytes
    theirs = [tk.id_to_byte_piece(i) for i in range(n_sp, tk.n_words)]
    assert mine[n_sp:] == theirs
    assert sorted(tk.special_ids) == tekken_vocab.special_ids.tolist()


def test_sentencepiece_bytes_match_sentencepiece(mistral_sp_vocab):
    import sentencepiece as spm

    from constrain.tokenizers import mistral_sp_model_path

    sp = spm.SentencePieceProcessor(model_file=str(mistral_sp_model_path()))
    assert sp.vocab_size() == mistral_sp_vocab.size
    for i in range(sp.vocab_size()):
        if sp.is_control(i) or sp.is_unknown(i):
            assert mistral_sp_vocab.token_bytes[i] is None
            continue
        piece = sp.id_to_piece(i)
        want = bytes([int(piece[3:5], 16)]) if sp.is_byte(i) else piece.replace("▁", " ").encode()
        assert mistral_sp_vocab.token_bytes[i] == want, (i, piece)


# ----------------------------------------------------------------------------- tokenizers


SAMPLE_STRINGS = [
    "Hello world",
    '{"name": "Alice", "age": 31, "tags": ["a", "b"]}',
    "  two leading spaces",
    "trailing   ",
    "line1\nline2\n\n\tindented",
    "日本語のテキスト、中文文本",
    "emoji 😀🎉 👩‍👩‍👧 mix",
    "Привет, мир! مرحبا",
    "1234567890 3.14159 -42e10",
    "x",
    " x",
]


def test_tekken_ids_match_mistral_common(tekken_tokenizer, tekkenizer):
    tk = tekkenizer
    for s in SAMPLE_STRINGS:
        assert tekken_tokenizer.encode(s, add_special_tokens=False) == tk.encode(s, bos=False, eos=False), s
    assert tekken_tokenizer.bos_token_id == tk.bos_id and tekken_tokenizer.eos_token_id == tk.eos_id


def test_mistral_sp_ids_match_mistral_common(mistral_sp_tokenizer, mistral_sp_reference):
    sp = mistral_sp_reference
    for s in SAMPLE_STRINGS + ["a  b   c", "    four", "[REFERENCE_DOC_3] doc"]:
        assert mistral_sp_tokenizer.encode(s, add_special_tokens=False) == sp.encode(s, bos=False, eos=False), s
    assert mistral_sp_tokenizer.bos_token_id == sp.bos_id and mistral_sp_tokenizer.eos_token_id == sp.eos_id


def test_load_tokenizer_names():
    from constrain.tokenizers import TOKENIZER_NAMES, load_tokenizer

    assert set(TOKENIZER_NAMES) == {"smollm2", "tekken", "mistral"}
    with pytest.raises(ValueError):
        load_tokenizer("gpt-17")


def test_cache_dirs(smollm2_tokenizer, tekken_tokenizer, mistral_sp_tokenizer):
    from constrain.tokenizers import cache_root, smollm2_cache_dir

    d = smollm2_cache_dir()
    assert d.parent == cache_root()
    assert (d / "tokenizer.json").is_file() and (d / ".structgen-tokenizer-complete").is_file()
    assert (cache_root() / "tekken-240911" / "tokenizer.json").is_file()
    assert (cache_root() / "mistral-sp-240323-v3" / "tokenizer.json").is_file()


# ----------------------------------------------------------------------------- decode


def _random_sequences(v: Vocabulary, seed: int, n: int = 400, max_len: int = 8):
    rng = random.Random(seed)
    ids = v.text_ids.tolist()
    for _ in range(n):
        yield [rng.choice(ids) for _ in range(rng.randint(1, max_len))]


def test_hf_decode_equals_token_bytes(family):
    """tokenizer.decode of random non-special sequences == concatenated bytes (when UTF-8)."""
    name, tok, v = family
    checked = 0
    # SentencePiece's decoder strips the dummy-prefix space of the first token: put a fixed
    # plain token first and compare what follows it.
    lead = [v.encode("a")[0]] if v.family == "sentencepiece" else []
    lead_text = "a" if lead else ""
    for seq in _random_sequences(v, seed=11):
        try:
            text = v.decode_bytes(seq).decode("utf-8")
        except UnicodeDecodeError:
            continue
        checked += 1
        got = tok.decode(lead + seq, clean_up_tokenization_spaces=False)
        assert got == lead_text + text, (name, seq)
    assert checked > 300


def test_mistral_common_decode_equals_token_bytes(tekken_vocab, mistral_sp_vocab, tekkenizer,
                                                  mistral_sp_reference):
    tk, sp = tekkenizer, mistral_sp_reference
    lead = mistral_sp_vocab.encode("a")
    for v, decode, prefix in ((tekken_vocab, tk.decode, []), (mistral_sp_vocab, sp.decode, lead)):
        checked = 0
        for seq in _random_sequences(v, seed=5):
            try:
                text = v.decode_bytes(seq).decode("utf-8")
            except UnicodeDecodeError:
                continue
            checked += 1
            assert decode(prefix + seq) == ("a" if prefix else "") + text, seq
        assert checked > 300


def test_split_utf8_across_tokens(family):
    """A character split over several byte tokens decodes once all its bytes are there."""
    name, tok, v = family
    single = {b: i for i, b in enumerate(v.token_bytes) if b is not None and len(b) == 1}
    ch = "😀".encode()  # f0 9f 98 80: single-byte tokens in every family
    seq = [single[bytes([c])] for c in ch]
    assert v.decode_bytes(seq) == ch
    lead = [v.encode("a")[0]] if v.family == "sentencepiece" else []
    assert tok.decode(lead + seq, clean_up_tokenization_spaces=False) == ("a" if lead else "") + "😀"


# ----------------------------------------------------------------------------- encode

_INTERESTING = list("abcXYZ019 \n\t\r{}[]\":,.-_'\\/<>|") + [
    "  ", "\n\n", "    ", "日本", "語", "中文", "😀", "🎉", "👩‍👩‍👧", "é", "ß", "Привет",
    "مرحبا", "\u00a0", "\u200b", "\x00", "\ufeff", "▁", "<|im_end|>", "<s>", "[INST]",
    "<0x41>", "Ġ", "Ċ", " the", "ing", "123456789",
]

_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=6), kids, max_size=4),
    max_leaves=12,
)

TEXTS = st.one_of(
    st.text(max_size=40),
    st.lists(st.sampled_from(_INTERESTING), max_size=16).map("".join),
    _json_values.map(lambda x: json.dumps(x, ensure_ascii=False)),
    _json_values.map(lambda x: json.dumps(x, indent=2)),
)


@pytest.mark.parametrize("fixture", ["smollm2_vocab", "tekken_vocab", "mistral_sp_vocab"])
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=TEXTS)
def test_encode_roundtrip(request, fixture, text):
    v = request.getfixturevalue(fixture)
    hypothesis.assume(v.missing_bytes.isdisjoint(text.encode("utf-8")))
    ids = v.encode(text)
    assert all(v.token_bytes[i] is not None for i in ids)
    assert v.decode_bytes(ids) == text.encode("utf-8")


def test_encode_is_the_tokenizers_own(smollm2_vocab, smollm2_tokenizer, tekken_vocab, tekken_tokenizer):
    for v, tok in ((smollm2_vocab, smollm2_tokenizer), (tekken_vocab, tekken_tokenizer)):
        for s in SAMPLE_STRINGS:
            assert v.encode(s) == tok.encode(s, add_special_tokens=False), s


def test_encode_special_strings_as_text(family):
    name, tok, v = family
    for s in ("<|im_end|>", "<s></s>", "[INST] hi [/INST]", "<unk>"):
        ids = v.encode(s)
        assert v.decode_bytes(ids) == s.encode()
        assert not set(ids) & set(v.special_ids.tolist())


def test_sentencepiece_prefix_space(mistral_sp_vocab, mistral_sp_tokenizer):
    v, tok = mistral_sp_vocab, mistral_sp_tokenizer
    # the tokenizer prepends a dummy "▁" ...
    assert v.decode_bytes(tok.encode("hello", add_special_tokens=False)) == b" hello"
    assert v.decode_bytes(tok.encode(" hello", add_special_tokens=False)) == b"  hello"
    # ... Vocabulary.encode does not: it tokenizes the text as it appears mid-output
    ids = v.encode("hello")
    assert v.decode_bytes(ids) == b"hello"
    assert ids == tok.encode("\nhello", add_special_tokens=False)[2:]  # "▁", "<0x0A>", ...
    assert v.encode(" hello") == tok.encode("\n hello", add_special_tokens=False)[2:]
    assert v.decode_bytes(v.encode(" hello")) == b" hello"
    assert v.encode(" the") == [tok.convert_tokens_to_ids("▁the")]
    assert v.encode("a b") == [tok.convert_tokens_to_ids("a"), tok.convert_tokens_to_ids("▁b")]
    # a literal U+2581 cannot come from "▁" pieces (they decode to spaces): still exact
    ids = v.encode("x▁y")
    assert v.decode_bytes(ids) == "x▁y".encode()
    vocab = tok.get_vocab()
    assert ids == [vocab["x"], vocab["<0xE2>"], vocab["<0x96>"], vocab["<0x81>"], vocab["y"]]


def test_greedy_encode(tekken_vocab):
    data = "greedy 😀 text".encode()
    assert tekken_vocab.decode_bytes(tekken_vocab.greedy_encode(data)) == data


# ----------------------------------------------------------------------------- trie


def test_trie_invariants(family):
    name, tok, v = family
    check_trie(v)


def test_trie_small_handmade():
    toks = [b"a", b"ab", b"abc", b"b", None, b"ab", b"ba", b"", b"\xff\x00"]
    v = Vocabulary.from_token_bytes(toks, eos_ids=[4])
    check_trie(v)
    # nodes in preorder: root, a, ab, abc, b, ba, \xff, \xff\x00
    assert v.n_nodes == 8
    assert [v.node_bytes(i) for i in range(v.n_nodes)] == [
        b"", b"a", b"ab", b"abc", b"b", b"ba", b"\xff", b"\xff\x00"
    ]
    assert v.trie_end.tolist() == [8, 4, 4, 4, 6, 6, 8, 8]
    assert v.trie_parent.tolist() == [-1, 0, 1, 2, 0, 4, 0, 6]
    assert v.token_bytes[7] is None and v.token_node[7] == -1  # empty bytes: never text
    assert v.token_node[1] == v.token_node[5] == 2
    assert sorted(v.node_tokens(2).tolist()) == [1, 5]
    assert v.child(0, ord("b")) == 4 and v.child(0, ord("c")) == -1
    assert [lv.tolist() for lv in v.levels] == [[0], [1, 4, 6], [2, 5, 7], [3]]
    assert v.max_token_len == 3
    assert v.eos_ids.tolist() == [4]
    assert v.encode("abcab") == [2, 1]
    assert v.decode_bytes([2, 1, 4]) == b"abcab"
    with pytest.raises(ValueError):
        v.decode_bytes([4], skip_special=False)
    with pytest.raises(ValueError):
        v.encode("z")


def test_eos_forced_to_none():
    v = Vocabulary.from_token_bytes([b"a", b"b"], eos_ids=[1])
    assert v.token_bytes == [b"a", None] and v.token_node[1] == -1


def test_build_time_tekken(tekken_vocab):
    t0 = time.perf_counter()
    v = Vocabulary(tekken_vocab.token_bytes, tekken_vocab.eos_ids)
    elapsed = time.perf_counter() - t0
    assert v.fingerprint == tekken_vocab.fingerprint
    assert elapsed < 5.0, elapsed  # ~0.5 s here; generous for slow CI machines


# ----------------------------------------------------------------------------- padding / cache


def test_padding_to_logits_width(smollm2_tokenizer, smollm2_vocab):
    v = Vocabulary.from_hf(smollm2_tokenizer, vocab_size=49152 + 100)
    assert v is not smollm2_vocab
    assert Vocabulary.from_hf(smollm2_tokenizer, vocab_size=49152 + 100) is v
    assert v.size == 49252 and v.n_words == (49252 + 31) // 32
    assert v.token_bytes[:49152] == smollm2_vocab.token_bytes
    assert all(b is None for b in v.token_bytes[49152:])
    assert np.all(v.token_node[49152:] == -1)
    assert v.special_ids.tolist() == smollm2_vocab.special_ids.tolist()  # padding is not special
    assert v.fingerprint != smollm2_vocab.fingerprint
    assert v.mask_to_ids(v.ids_to_mask(np.arange(49240, 49252))).tolist() == list(range(49240, 49252))


def _tiny_bytelevel_tokenizer():
    """A byte-level BPE tokenizer built in memory: 256 bytes, a few merges, 2 specials last."""
    from tokenizers import AddedToken, Tokenizer, decoders, pre_tokenizers
    from tokenizers.models import BPE
    from transformers import PreTrainedTokenizerFast

    from constrain.tokens.bytelevel import BYTES_TO_UNICODE

    vocab = {c: i for i, c in enumerate(BYTES_TO_UNICODE)}
    merges = [("Ġ", "t"), ("h", "e"), ("Ġt", "he")]
    for a, b in merges:
        vocab[a + b] = len(vocab)
    tk = Tokenizer(BPE(vocab, merges))
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    tk.add_special_tokens([AddedToken("<|im_end|>", special=True), AddedToken("<|pad|>", special=True)])
    tk.add_tokens([AddedToken("<think>", special=False, normalized=False)])
    return PreTrainedTokenizerFast(tokenizer_object=tk, eos_token="<|im_end|>", pad_token="<|pad|>")


def test_tiny_tokenizer_and_narrower_width():
    tok = _tiny_bytelevel_tokenizer()
    n = len(tok)
    assert n == 256 + 3 + 3
    v = Vocabulary.from_hf(tok)
    assert v.family == "bytelevel" and v.size == n
    assert v.token_bytes[256:259] == [b" t", b"he", b" the"]
    assert v.token_bytes[259] is None and v.token_bytes[260] is None  # specials
    assert v.token_bytes[261] == b"<think>"  # a non-special added token is text
    assert v.eos_ids.tolist() == [259]
    assert v.encode(" the end<think>") == tok.encode(" the end<think>", add_special_tokens=False)
    check_trie(v)
    # narrower than the tokenizer: allowed while only special ids are dropped
    with pytest.raises(ValueError):
        Vocabulary.from_hf(tok, vocab_size=n - 1)  # would drop "<think>"


def test_narrower_than_tokenizer(tekken_tokenizer, smollm2_tokenizer):
    with pytest.raises(ValueError):
        Vocabulary.from_hf(tekken_tokenizer, vocab_size=131000)
    from tokenizers import AddedToken

    tok = _tiny_bytelevel_tokenizer()
    tok.add_special_tokens({"additional_special_tokens": [AddedToken("<|extra|>", special=True)]})
    n = len(tok)
    v = Vocabulary.from_hf(tok, vocab_size=n - 1)  # drops only the special <|extra|>
    assert v.size == n - 1 and v.token_bytes[-1] == b"<think>"


def test_fingerprint_stable_and_sensitive(tekken_vocab):
    fp = tekken_vocab.fingerprint
    assert isinstance(fp, str) and len(fp) == 32
    tb = list(tekken_vocab.token_bytes)
    assert Vocabulary(tb, tekken_vocab.eos_ids).fingerprint == fp
    tb[5000] = tb[5000] + b"!"
    assert Vocabulary(tb, tekken_vocab.eos_ids).fingerprint != fp
    assert Vocabulary(tekken_vocab.token_bytes, [2, 3]).fingerprint != fp


# ----------------------------------------------------------------------------- masks


def _ref_bits(mask: np.ndarray, n: int) -> np.ndarray:
    m = mask.view(np.uint32)
    ids = np.arange(n)
    return ((m[ids >> 5] >> (ids & 31).astype(np.uint32)) & 1).astype(bool)


@pytest.mark.parametrize("size", [1, 31, 32, 33, 100, 49152, 131072])
def test_mask_helpers(size):
    v = Vocabulary.from_token_bytes([str(i).encode() for i in range(size)])
    rng = np.random.default_rng(size)
    for density in (0.0, 0.01, 0.5, 1.0):
        ids = np.flatnonzero(rng.random(size) < density)
        mask = v.ids_to_mask(ids)
        assert mask.dtype == np.int32 and mask.shape == (v.n_words,)
        assert np.array_equal(np.flatnonzero(_ref_bits(mask, size)), ids)
        assert np.array_equal(v.mask_to_ids(mask), ids)
    # a narrow mask (few nonzero words: mask_to_ids unpacks only those), sign bits included
    ids = np.unique(np.concatenate([np.arange(min(40, size)), np.arange(31, size, 32)[:3], [size - 1]]))
    assert np.array_equal(v.mask_to_ids(v.ids_to_mask(ids)), ids)
    full = v.ids_to_mask(np.arange(size))
    if size % 32 == 0:
        assert np.all(full == -1)
    out = np.zeros(v.n_words, dtype=np.int32)
    assert v.ids_to_mask([size - 1], out=out) is out and v.mask_to_ids(out).tolist() == [size - 1]
    with pytest.raises(ValueError):
        v.ids_to_mask([size])


# ----------------------------------------------------------------------------- model (slow)


@pytest.mark.slow
@pytest.mark.model
def test_smollm2_model_logits_width(smollm2_tokenizer):
    import torch

    from decode.models import load_smollm2_model

    model = load_smollm2_model()
    ids = torch.tensor([smollm2_tokenizer.encode("Hello")])
    with torch.no_grad():
        logits = model(ids).logits
    v = Vocabulary.from_hf(smollm2_tokenizer, vocab_size=logits.shape[-1])
    assert logits.shape[-1] == v.size == 49152
