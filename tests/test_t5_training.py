"""utils.t5_training: tokenizer, batches, the training loop, exact match, saving and loading."""

import json

import pytest
import torch

from utils import t5_training as TR
from utils import text2text as TT

EXAMPLES = TT.make_examples(300, seed=0)


@pytest.fixture(scope="module")
def tokenizer():
    return TR.train_tokenizer([x for _, s, t in EXAMPLES for x in (s, t)], 300, 5)


def small_model(vocab_size):
    from transformers import T5Config, T5ForConditionalGeneration

    torch.manual_seed(0)
    config = T5Config(
        vocab_size=vocab_size,
        d_model=16,
        d_kv=4,
        d_ff=32,
        num_layers=1,
        num_heads=2,
        decoder_start_token_id=0,
        dropout_rate=0.0,
    )
    return T5ForConditionalGeneration(config)


def test_tokenizer_has_t5_special_ids_and_round_trips(tokenizer):
    assert (tokenizer.pad_token_id, tokenizer.eos_token_id, tokenizer.unk_token_id) == (0, 1, 2)
    assert tokenizer.convert_tokens_to_ids(["<extra_id_0>", "<extra_id_4>"]) == [3, 7]
    for _, _, target in EXAMPLES[:20]:
        ids = tokenizer(target).input_ids
        assert ids[-1] == 1 and 0 not in ids  # </s> appended, no padding
        assert tokenizer.decode(ids, skip_special_tokens=True) == target


def test_encode_masks_label_padding(tokenizer):
    batch = TR.encode(tokenizer, EXAMPLES[:4])
    assert batch["input_ids"].shape == batch["attention_mask"].shape
    lengths = [len(tokenizer(t).input_ids) for _, _, t in EXAMPLES[:4]]
    for row, n in zip(batch["labels"], lengths, strict=True):
        assert (row[:n] >= 0).all() and (row[n:] == -100).all()


def test_training_lowers_the_loss_and_is_repeatable(tokenizer):
    a, b = small_model(len(tokenizer)), small_model(len(tokenizer))
    kwargs = dict(steps=30, batch_size=16, lr=1e-2, warmup=5, seed=3, desc=None)
    losses_a = TR.train_text2text(a, tokenizer, EXAMPLES, **kwargs)
    losses_b = TR.train_text2text(b, tokenizer, EXAMPLES, **kwargs)
    assert losses_a == losses_b
    assert sum(losses_a[-5:]) / 5 < 0.9 * sum(losses_a[:5]) / 5  # 6.1 -> 5.2 (measured)
    assert not a.training


def test_exact_match_counts_per_task():
    examples = [("x", "a", "1"), ("x", "b", "2"), ("y", "c", "3")]
    assert TR.exact_match(examples, ["1", "0", "3"]) == {"x": 0.5, "y": 1.0, "all": 2 / 3}
    with pytest.raises(ValueError, match="predictions"):
        TR.exact_match(examples, ["1"])


def test_predict_matches_generate_and_beams(tokenizer):
    model = small_model(len(tokenizer)).eval()
    inputs = [s for _, s, _ in EXAMPLES[:7]]
    texts = TR.predict(model, tokenizer, inputs, max_new_tokens=5, batch_size=3)
    batch = tokenizer(inputs, padding=True, return_tensors="pt")
    out = model.generate(**batch, max_new_tokens=5, do_sample=False)
    assert texts == tokenizer.batch_decode(out, skip_special_tokens=True)
    beams = model.generate(**batch, max_new_tokens=5, num_beams=2, do_sample=False)
    assert TR.predict(model, tokenizer, inputs, num_beams=2, max_new_tokens=5) == (
        tokenizer.batch_decode(beams, skip_special_tokens=True)
    )


def test_save_and_load_course_t5(tmp_path, monkeypatch, tokenizer):
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="03_training_a_t5"):
        TR.load_course_t5(build=False)
    model = small_model(len(tokenizer)).eval()
    folder = TR.save_course_t5(model, tokenizer)
    assert folder == tmp_path / "models" / "course-t5"
    assert json.loads((folder / "recipe.json").read_text())["steps"] == TR.COURSE_T5["steps"]
    loaded, loaded_tokenizer = TR.load_course_t5(build=False)
    inputs = [s for _, s, _ in EXAMPLES[:5]]
    assert TR.predict(loaded, loaded_tokenizer, inputs, max_new_tokens=4) == TR.predict(
        model, tokenizer, inputs, max_new_tokens=4
    )
    # a folder trained by another recipe is not trusted
    (folder / "recipe.json").write_text(json.dumps({"steps": 1}))
    with pytest.raises(FileNotFoundError):
        TR.load_course_t5(build=False)


def test_bad_input(tokenizer):
    with pytest.raises(ValueError, match="texts"):
        TR.train_tokenizer("just one string", 100)
    with pytest.raises(ValueError):
        TR.train_tokenizer(["a b"], 0)
    with pytest.raises(ValueError, match="triples"):
        TR.encode(tokenizer, [])
    with pytest.raises(ValueError, match="strings"):
        TR.encode(tokenizer, [("task", "input")])
    with pytest.raises(ValueError, match="warmup"):
        TR.train_text2text(
            small_model(len(tokenizer)),
            tokenizer,
            EXAMPLES,
            steps=5,
            batch_size=2,
            lr=1e-3,
            warmup=5,
            desc=None,
        )
    with pytest.raises(ValueError, match="list of strings"):
        TR.predict(small_model(len(tokenizer)), tokenizer, "one text")


def test_course_t5_model_is_seeded_and_leaves_the_global_rng_alone():
    models = []
    for caller_seed in (1, 2):
        torch.manual_seed(caller_seed)
        state = torch.get_rng_state()
        models.append(TR.course_t5_model(100))
        assert torch.equal(torch.get_rng_state(), state)
    for a, b in zip(models[0].state_dict().values(), models[1].state_dict().values(), strict=True):
        assert torch.equal(a, b)
    torch.manual_seed(TR.COURSE_T5["seed"])  # the weights are those of a model seeded so
    from transformers import T5ForConditionalGeneration

    reference = T5ForConditionalGeneration(models[0].config)
    assert torch.equal(reference.shared.weight, models[0].shared.weight)
    with pytest.raises(ValueError, match="vocab_size must be a positive int"):
        TR.course_t5_model(0)
