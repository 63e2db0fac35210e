"""utils.prompting: few-shot prompts, choice scores, shared-prefix log-probs, perplexity, exact
match and batched chat, on a tiny random Llama with SmolLM2's real tokenizer."""

import math

import pytest
import torch

from utils import pretrained
from utils import prompting as P


@pytest.fixture(scope="module")
def tokenizer():
    return pretrained.load_tokenizer()


@pytest.fixture(scope="module")
def tiny(tokenizer, make_tiny_llama):
    end_of_turn = tokenizer.convert_tokens_to_ids("<|im_end|>")
    return make_tiny_llama(
        len(tokenizer),
        hidden_size=16,
        intermediate_size=32,
        max_position_embeddings=256,
        eos_token_id=end_of_turn,
    )


def _brute_force_logprob(model, prompt_ids, choice_ids):
    """Sum of log p(choice token | everything before it), one model call per token."""
    total = 0.0
    ids = list(prompt_ids)
    with torch.no_grad():
        for token in choice_ids:
            logits = model(torch.tensor([ids])).logits[0, -1]
            total += torch.log_softmax(logits, -1)[token].item()
            ids.append(token)
    return total


def test_few_shot_format():
    fmt = P.FewShotFormat(instruction="Say yes or no.", input_prefix="Q: ", output_prefix="A:")
    demos = [("is it?", "yes"), ("is it not?", "no")]
    prompt = fmt.prompt(demos, "well?")
    assert prompt == "Say yes or no.\nQ: is it?\nA: yes\nQ: is it not?\nA: no\nQ: well?\nA:"
    assert prompt == fmt.prefix(demos) + fmt.query("well?")
    assert fmt.prefix([]) == "Say yes or no.\n"
    assert P.FewShotFormat().prefix([]) == ""
    assert fmt.choice("yes") == " yes"
    with pytest.raises(TypeError, match="pair"):
        fmt.prefix([("only text",)])
    with pytest.raises(ValueError, match="non-empty"):
        fmt.choice(" ")


def test_score_choices_equals_token_by_token(tiny, tokenizer):
    prompts = ["The capital of France is", "Two plus two equals"]
    choices = [" Paris", " the city of Lyon", " four"]
    scores = P.score_choices(tiny, tokenizer, prompts, choices, batch_size=4)
    assert scores.logprob.shape == scores.n_tokens.shape == (2, 3)
    for i, prompt in enumerate(prompts):
        prompt_ids = tokenizer(prompt).input_ids
        for j, choice in enumerate(choices):
            choice_ids = tokenizer(choice, add_special_tokens=False).input_ids
            assert scores.n_tokens[i, j] == len(choice_ids)
            expected = _brute_force_logprob(tiny, prompt_ids, choice_ids)
            assert scores.logprob[i, j].item() == pytest.approx(expected, abs=1e-4)
    torch.testing.assert_close(scores.per_token, scores.logprob / scores.n_tokens)
    assert torch.equal(scores.best(), scores.logprob.argmax(-1))
    assert torch.equal(scores.best(normalize=True), scores.per_token.argmax(-1))


def test_score_choices_batch_size_and_per_prompt_choices(tiny, tokenizer):
    prompts = ["Yes or no:", "A much longer prompt, so that rows are padded:"]
    choices = [[" yes", " no"], [" maybe so", " no"]]
    one = P.score_choices(tiny, tokenizer, prompts, choices, batch_size=1)
    many = P.score_choices(tiny, tokenizer, prompts, choices, batch_size=8)
    torch.testing.assert_close(one.logprob, many.logprob, atol=1e-4, rtol=0)
    shared = P.score_choices(tiny, tokenizer, prompts, [" yes", " no"])
    torch.testing.assert_close(shared.logprob[0], one.logprob[0], atol=1e-4, rtol=0)


def test_score_choices_bad_input(tiny, tokenizer):
    with pytest.raises(TypeError, match="list of strings"):
        P.score_choices(tiny, tokenizer, "a prompt", [" a"])
    with pytest.raises(ValueError, match="empty"):
        P.score_choices(tiny, tokenizer, [], [" a"])
    with pytest.raises(ValueError, match="one list of choices per prompt"):
        P.score_choices(tiny, tokenizer, ["p", "q"], [[" a"], [" b"], [" c"]])
    with pytest.raises(ValueError, match="same number"):
        P.score_choices(tiny, tokenizer, ["p", "q"], [[" a"], [" b", " c"]])
    with pytest.raises(ValueError, match="empty string"):
        P.score_choices(tiny, tokenizer, ["p"], [""])
    with pytest.raises(ValueError, match="batch_size"):
        P.score_choices(tiny, tokenizer, ["p"], [" a"], batch_size=0)


PREFIX = "Some shared instructions.\nReview: fine\nLabel: good\n"


@pytest.mark.parametrize("prefix", ["", PREFIX])
def test_next_token_logprobs_equals_whole_prompt(tiny, tokenizer, prefix):
    texts = ["Review: bad\nLabel:", "Review: a longer one, really\nLabel:", "Review: ok\nLabel:"]
    out = P.next_token_logprobs(tiny, tokenizer, texts, prefix=prefix, batch_size=2)
    assert out.shape == (3, len(tokenizer))
    with torch.no_grad():
        for i, text in enumerate(texts):
            ids = tokenizer(prefix + text).input_ids  # the whole prompt, in one piece
            expected = torch.log_softmax(tiny(torch.tensor([ids])).logits[0, -1], -1)
            torch.testing.assert_close(out[i], expected, atol=1e-4, rtol=0)
    # one-token choices: the same number as score_choices
    choice = " good"
    token = tokenizer(choice, add_special_tokens=False).input_ids
    assert len(token) == 1
    scores = P.score_choices(tiny, tokenizer, [prefix + t for t in texts], [choice])
    torch.testing.assert_close(out[:, token[0]], scores.logprob[:, 0], atol=1e-4, rtol=0)


def test_next_token_logprobs_bad_input(tiny, tokenizer):
    with pytest.raises(TypeError, match="prefix"):
        P.next_token_logprobs(tiny, tokenizer, ["a"], prefix=None)
    with pytest.raises(TypeError, match="list of strings"):
        P.next_token_logprobs(tiny, tokenizer, "a")
    with pytest.raises(ValueError, match="boundary merges"):  # "\n\n" + "Review" is 2 tokens
        P.next_token_logprobs(tiny, tokenizer, ["Review: ok"], prefix="Review: fine\n\n")


def test_perplexity_equals_hugging_face_loss(tiny, tokenizer):
    texts = ["The cat sat on the mat.", "A much longer sentence, with many more tokens in it."]
    losses, counts = [], []
    with torch.no_grad():
        for text in texts:
            ids = tokenizer(text, return_tensors="pt").input_ids
            losses.append(tiny(input_ids=ids, labels=ids).loss.item())
            counts.append(ids.shape[1] - 1)
    per_text = P.perplexity(tiny, tokenizer, texts, per_text=True, batch_size=2)
    torch.testing.assert_close(per_text, torch.exp(torch.tensor(losses)), rtol=1e-4, atol=0)
    corpus = sum(loss * n for loss, n in zip(losses, counts, strict=True)) / sum(counts)
    assert P.perplexity(tiny, tokenizer, texts, batch_size=1) == pytest.approx(
        math.exp(corpus), rel=1e-4
    )
    with pytest.raises(ValueError, match="at least 2 tokens"):
        P.perplexity(tiny, tokenizer, ["Hi"])


def test_normalize_and_exact_match():
    assert P.normalize_answer("The  Eiffel Tower!") == "eiffel tower"
    assert P.normalize_answer("  An apple, a day. ") == "apple day"
    assert P.exact_match("Paris.", "paris")
    assert P.exact_match("the answer is 4", ["4", "The answer is 4!"])
    assert not P.exact_match("The answer is 4.", "4")
    with pytest.raises(TypeError):
        P.normalize_answer(4)
    with pytest.raises(ValueError, match="empty"):
        P.exact_match("x", [])


def test_hand_written_sets_are_well_formed():
    for q in P.MULTIPLE_CHOICE:
        assert len(q.choices) == 4 and 0 <= q.answer < 4 and len(set(q.choices)) == 4
    assert len({q.answer for q in P.MULTIPLE_CHOICE}) > 1  # the right answer moves around
    assert all(refs and isinstance(refs, tuple) for _, refs in P.SHORT_QA)
    assert all(good != bad for _, good, bad in P.JUDGE_PAIRS)


def test_judge_prompt_holds_the_question_and_both_answers_in_order(tokenizer):
    text = P.judge_prompt(tokenizer, "Capital of France?", "Paris", "Lyon")
    assert text.index(P.JUDGE_INSTRUCTION) < text.index("Answer A: Paris")
    assert text.index("Answer A: Paris") < text.index("Answer B: Lyon")
    assert text.endswith("<|im_start|>assistant\n")
    with pytest.raises(ValueError, match="second"):
        P.judge_prompt(tokenizer, "Capital of France?", "Paris", " ")
