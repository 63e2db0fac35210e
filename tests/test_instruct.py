"""utils.instruct: chat-template examples with masked labels, padding, the date task, greedy
answers, and the DPO loss against a hand computation."""

import datetime
import math
import re
import types

import pytest
import torch

from utils import instruct as I
from utils import pretrained
from utils import scoring as S
from utils.pretrained import DEFAULT_DECODER, load_tokenizer


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer(DEFAULT_DECODER)  # SmolLM2's, with its chat template


@pytest.fixture(scope="module")
def tiny_llama(tokenizer, make_tiny_llama):
    return make_tiny_llama(
        len(tokenizer),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=128,
    )


def test_chat_example_masks_the_prompt_and_keeps_the_end_of_turn(tokenizer):
    example = I.chat_example(tokenizer, "Write the date 2017-04-12 in words.", "12 April 2017")
    ids, labels = example["input_ids"], example["labels"]
    assert ids.dtype == labels.dtype == torch.long and ids.shape == labels.shape
    prompt = I.prompt_ids(tokenizer, "Write the date 2017-04-12 in words.")
    assert ids[: len(prompt)].tolist() == prompt  # the prompt is a prefix
    assert (labels[: len(prompt)] == S.IGNORE_INDEX).all()
    assert torch.equal(labels[len(prompt) :], ids[len(prompt) :])
    assert ids[-1] == tokenizer.eos_token_id  # ends with <|im_end|>, nothing after it
    assert tokenizer.decode(ids[len(prompt) :]) == "12 April 2017<|im_end|>"
    text = tokenizer.decode(ids)
    assert "<|im_start|>system\nBe brief.<|im_end|>" in text
    assert text.count("<|im_start|>assistant\n") == 1
    # without a system message, SmolLM2's template inserts its own default one
    no_system = I.chat_example(tokenizer, "Hi", "Hello", system=None)
    assert "SmolLM" in tokenizer.decode(no_system["input_ids"])


def test_pad_collate_pads_on_the_right_and_ignores_padding(tokenizer):
    a = I.chat_example(tokenizer, "Write the date 2017-04-12 in words.", "12 April 2017")
    b = I.chat_example(tokenizer, "Hi", "Hello there, how can I help you today?")
    batch = I.pad_collate([a, b], pad_id=tokenizer.pad_token_id)
    n = max(len(a["input_ids"]), len(b["input_ids"]))
    assert {k: tuple(v.shape) for k, v in batch.items()} == {
        "input_ids": (2, n),
        "attention_mask": (2, n),
        "labels": (2, n),
    }
    for row, e in enumerate((a, b)):
        k = len(e["input_ids"])
        assert torch.equal(batch["input_ids"][row, :k], e["input_ids"])
        assert torch.equal(batch["labels"][row, :k], e["labels"])
        assert batch["attention_mask"][row].tolist() == [1] * k + [0] * (n - k)
        assert (batch["labels"][row, k:] == S.IGNORE_INDEX).all()
        assert (batch["input_ids"][row, k:] == tokenizer.pad_token_id).all()


def test_masked_loss_counts_only_the_answers(tokenizer, tiny_llama):
    examples = [I.chat_example(tokenizer, p, a) for p, a in I.date_task(3, 1)[0]]
    batch = I.pad_collate(examples, tokenizer.pad_token_id)
    with torch.no_grad():
        out = tiny_llama(**batch)
    torch.testing.assert_close(S.mean_nll(out.logits, batch["labels"]), out.loss)
    answer_tokens = sum(int((e["labels"] != S.IGNORE_INDEX).sum()) for e in examples)
    assert int(S.token_logprobs(out.logits, batch["labels"])[1].sum()) == answer_tokens


def test_date_task_is_repeatable_disjoint_and_right():
    train, test = I.date_task(300, 40, seed=3)
    assert len(train) == 300 and len(test) == 40
    assert I.date_task(300, 40, seed=3) == (train, test)
    assert not {p for p, _ in train} & {p for p, _ in test}
    for prompt, answer in train + test:
        iso = re.fullmatch(r"Write the date (\d{4}-\d{2}-\d{2}) in words\.", prompt).group(1)
        date = datetime.date.fromisoformat(iso)
        assert answer == date.strftime("%-d %B %Y") == I.date_answer(date)
    assert I.date_answer(datetime.date(2005, 1, 2)) == "2 January 2005"


def test_chat_batch_with_the_short_system_message_equals_one_by_one(tokenizer, tiny_llama):
    """09.3 answers with utils.pretrained.chat_batch and instruct.SYSTEM."""
    prompts = ["Hi", "Write the date 2017-04-12 in words.", "What is the capital of France?"]
    kwargs = dict(system=I.SYSTEM, max_new_tokens=5)
    batched = pretrained.chat_batch(prompts, tiny_llama, tokenizer, **kwargs)
    alone = [pretrained.chat_batch([p], tiny_llama, tokenizer, **kwargs)[0] for p in prompts]
    assert batched == alone and len(batched) == 3
    assert pretrained.chat_batch(prompts, tiny_llama, tokenizer, batch_size=2, **kwargs) == batched
    assert batched == [
        pretrained.chat(p, tiny_llama, tokenizer, system=I.SYSTEM, max_new_tokens=5)
        for p in prompts
    ]


def test_exact_match():
    assert I.exact_match(["12 April 2017", "1 May 2000 "], ["12 April 2017", "1 May 2000"]) == 1.0
    assert I.exact_match(["12 April  2017", "2000-05-01"], ["12 April 2017", "1 May 2000"]) == 0.5


def test_dpo_loss_by_hand_and_its_properties():
    pc, pr = torch.tensor([-10.0, -20.0]), torch.tensor([-12.0, -15.0])
    rc, rr = torch.tensor([-11.0, -18.0]), torch.tensor([-11.0, -16.0])
    beta = 0.5
    # pair 1: (−10+11) − (−12+11) = 2; pair 2: (−20+18) − (−15+16) = −3
    by_hand = -math.log(1 / (1 + math.exp(-beta * 2))) - math.log(1 / (1 + math.exp(beta * 3)))
    torch.testing.assert_close(I.dpo_loss(pc, pr, rc, rr, beta=beta), torch.tensor(by_hand / 2))
    # policy = reference: log 2, whatever the log-probabilities and beta
    x, y = torch.randn(5) * 10, torch.randn(5) * 10
    torch.testing.assert_close(I.dpo_loss(x, y, x, y, beta=3.0), torch.tensor(math.log(2)))
    # only the difference of the log-ratios matters; a wider margin lowers the loss
    torch.testing.assert_close(
        I.dpo_loss(pc + 7, pr + 7, rc, rr, beta=beta), I.dpo_loss(pc, pr, rc, rr, beta=beta)
    )
    assert I.dpo_loss(pc + 1, pr, rc, rr) < I.dpo_loss(pc, pr, rc, rr)
    # the gradient raises the chosen answer and lowers the rejected one
    chosen, rejected = pc.clone().requires_grad_(), pr.clone().requires_grad_()
    I.dpo_loss(chosen, rejected, rc, rr, beta=beta).backward()
    assert (chosen.grad < 0).all() and (rejected.grad > 0).all()
    torch.testing.assert_close(chosen.grad, -rejected.grad)


def test_bad_input(tokenizer):
    with pytest.raises(ValueError, match="prompt"):
        I.chat_example(tokenizer, "", "x")
    with pytest.raises(ValueError, match="answer"):
        I.chat_example(tokenizer, "x", " ")
    with pytest.raises(TypeError, match="system"):
        I.chat_example(tokenizer, "x", "y", system=3)
    with pytest.raises(ValueError, match="no chat template"):
        I.chat_example(types.SimpleNamespace(chat_template=None), "x", "y")
    with pytest.raises(ValueError, match="empty"):
        I.pad_collate([], pad_id=0)
    with pytest.raises(ValueError, match="pad_id"):
        I.pad_collate([{"input_ids": torch.ones(2), "labels": torch.ones(2)}], pad_id=-1)
    with pytest.raises(ValueError, match="same shape"):
        I.pad_collate([{"input_ids": torch.ones(2), "labels": torch.ones(3)}], pad_id=0)
    with pytest.raises(ValueError, match="n_test"):
        I.date_task(3, 0)
    with pytest.raises(ValueError, match="at most"):
        I.date_task(5000, 1)
    with pytest.raises(ValueError, match="as many"):
        I.exact_match(["a"], ["a", "b"])
    x = torch.zeros(3)
    with pytest.raises(ValueError, match="beta"):
        I.dpo_loss(x, x, x, x, beta=0)
    with pytest.raises(ValueError, match="one shape"):
        I.dpo_loss(x, x, x, torch.zeros(2))
    with pytest.raises(ValueError, match="one shape"):
        I.dpo_loss(x[None], x[None], x[None], x[None])
    with pytest.raises(TypeError, match="tensors"):
        I.dpo_loss([0.0], x, x, x)
