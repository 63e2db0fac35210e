"""Prompting a causal LM and scoring what it says (chapter 09.2).

Everything here rests on one number, the log-likelihood of a continuation given a prompt,
``log p(continuation | prompt)``, computed by :mod:`utils.scoring` (shift by one, log-softmax,
pick the label's entry, ignore the prompt's positions):

* :class:`FewShotFormat` writes few-shot prompts (an instruction, ``k`` solved examples, the query);
* :func:`score_choices` scores each answer of a multiple-choice question, as benchmarks such as
  MMLU or HellaSwag are evaluated (the highest log-likelihood wins, with or without dividing by
  the answer's length);
* :func:`next_token_logprobs` computes a prompt's shared part once and reuses its keys and values
  (``past_key_values``) for many endings: the cheap way to run a few-shot experiment;
* :func:`perplexity` on held-out text; :func:`normalize_answer` and :func:`exact_match` for
  generated short answers (generated with :func:`utils.pretrained.chat_batch`);
* three tiny hand-written test sets: :data:`MULTIPLE_CHOICE`, :data:`SHORT_QA`, :data:`JUDGE_PAIRS`.

Tokenization convention (as in EleutherAI's lm-evaluation-harness): a prompt is tokenized as the
tokenizer does by default, each continuation *separately* with ``add_special_tokens=False``, and
the ids are concatenated, so the prompt's tokens are the same for every continuation.
Continuations start with a space (``" positive"``), and prompts end without one: byte-level BPE
glues a space to the word after it, and whitespace runs tokenize differently at the end of a
string than before a word (``"\\n\\n"`` alone is one token, before ``"Review"`` two).
"""

from __future__ import annotations

import copy
import math
import re
import string
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch

from .scoring import IGNORE_INDEX, sequence_logprob, token_logprobs

__all__ = [
    "JUDGE_INSTRUCTION",
    "JUDGE_PAIRS",
    "MULTIPLE_CHOICE",
    "SHORT_QA",
    "ChoiceScores",
    "FewShotFormat",
    "MCQuestion",
    "exact_match",
    "judge_prompt",
    "next_token_logprobs",
    "normalize_answer",
    "perplexity",
    "score_choices",
]


def _check_texts(name: str, texts: object, *, allow_empty_strings: bool = False) -> list[str]:
    if isinstance(texts, str) or not isinstance(texts, Sequence):
        raise TypeError(
            f"{name} must be a list of strings (wrap a single one: [text]), got "
            f"{type(texts).__name__}"
        )
    if len(texts) == 0:
        raise ValueError(f"{name} is empty")
    for t in texts:
        if not isinstance(t, str):
            raise TypeError(f"{name} must hold strings, got a {type(t).__name__}")
        if not allow_empty_strings and not t:
            raise ValueError(f"{name} holds an empty string")
    return list(texts)


def _check_batch_size(batch_size: object) -> int:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    return batch_size


def _pad_id(tokenizer: Any) -> int:
    pad = tokenizer.pad_token_id
    return int(pad) if pad is not None else int(tokenizer.eos_token_id or 0)


# ----------------------------------------------------------------------------- prompts


@dataclass(frozen=True)
class FewShotFormat:
    """How a few-shot prompt is written::

        {instruction}{separator}
        {input_prefix}{demo text}\\n{output_prefix} {demo answer}{separator}
        ...
        {input_prefix}{query text}\\n{output_prefix}

    The prompt ends right after ``output_prefix``; the answer the model should give is
    :meth:`choice` ``(answer)``, i.e. with a leading space, the same form the demonstrations show.
    """

    instruction: str = ""
    input_prefix: str = "Input: "
    output_prefix: str = "Output:"
    separator: str = "\n"  # "\n\n" would tokenize differently at the end of a shared prefix

    def choice(self, answer: str) -> str:
        """The continuation that means ``answer``: ``" " + answer``."""
        if not isinstance(answer, str) or not answer.strip():
            raise ValueError(f"answer must be a non-empty string, got {answer!r}")
        return " " + answer

    def demonstration(self, text: str, answer: str) -> str:
        """One solved example."""
        return self.query(text) + self.choice(answer)

    def query(self, text: str) -> str:
        """The example to solve, ending with ``output_prefix`` (no trailing space)."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        return f"{self.input_prefix}{text}\n{self.output_prefix}"

    def prefix(self, demonstrations: Sequence[tuple[str, str]]) -> str:
        """Everything before the query: the instruction and the solved examples, each followed by
        the separator ("" when there is neither)."""
        if isinstance(demonstrations, str) or not isinstance(demonstrations, Sequence):
            raise TypeError("demonstrations must be a list of (text, answer) pairs")
        parts = [self.instruction] if self.instruction else []
        for pair in demonstrations:
            if not (isinstance(pair, tuple | list) and len(pair) == 2):
                raise TypeError(f"each demonstration must be a (text, answer) pair, got {pair!r}")
            parts.append(self.demonstration(*pair))
        return "".join(p + self.separator for p in parts)

    def prompt(self, demonstrations: Sequence[tuple[str, str]], text: str) -> str:
        """The whole prompt: :meth:`prefix` then :meth:`query`."""
        return self.prefix(demonstrations) + self.query(text)


# ------------------------------------------------------------------ multiple choice


class ChoiceScores(NamedTuple):
    """The log-likelihoods of the choices: ``logprob[i, j] = log p(choice j | prompt i)`` and
    ``n_tokens[i, j]``, the number of tokens of choice ``j``; both ``(n_prompts, n_choices)``."""

    logprob: torch.Tensor
    n_tokens: torch.Tensor

    @property
    def per_token(self) -> torch.Tensor:
        """Length-normalised scores: the mean log-probability per token, ``(n_prompts,
        n_choices)``."""
        return self.logprob / self.n_tokens

    def best(self, normalize: bool = False) -> torch.Tensor:
        """Index of the highest-scoring choice per prompt, ``(n_prompts,)``; with
        ``normalize=True`` by :attr:`per_token`."""
        return (self.per_token if normalize else self.logprob).argmax(dim=-1)


@torch.no_grad()
def score_choices(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[str],
    choices: Sequence[str] | Sequence[Sequence[str]],
    *,
    batch_size: int = 16,
) -> ChoiceScores:
    """``log p(choice | prompt)`` for every prompt and each of its choices.

    Parameters
    ----------
    prompts:
        ``n`` prompt strings.
    choices:
        either one list of ``c`` strings used for every prompt, or ``n`` lists of ``c`` strings
        (one per prompt). Each row ``prompt ids + choice ids`` is run through the model, with the
        prompt's labels set to ``IGNORE_INDEX``, so that only the choice's tokens are counted.
    batch_size:
        rows per forward pass (rows are right-padded; padding comes after the tokens that count,
        so it changes nothing for a causal model).

    Returns
    -------
    ChoiceScores
        ``logprob`` and ``n_tokens``, both ``(n, c)``.
    """
    prompts = _check_texts("prompts", prompts)
    batch_size = _check_batch_size(batch_size)
    if isinstance(choices, str) or not isinstance(choices, Sequence) or len(choices) == 0:
        raise TypeError("choices must be a non-empty list of strings, or one list per prompt")
    if all(isinstance(c, str) for c in choices):
        per_prompt = [_check_texts("choices", choices)] * len(prompts)
    else:
        if len(choices) != len(prompts):
            raise ValueError(
                f"one list of choices per prompt: got {len(choices)} lists for "
                f"{len(prompts)} prompts"
            )
        per_prompt = [_check_texts("choices of a prompt", c) for c in choices]
        if len({len(c) for c in per_prompt}) != 1:
            raise ValueError("every prompt must have the same number of choices")
    rows: list[tuple[list[int], list[int]]] = []
    for prompt, options in zip(prompts, per_prompt, strict=True):
        prompt_ids = tokenizer(prompt).input_ids
        for option in options:
            option_ids = tokenizer(option, add_special_tokens=False).input_ids
            if len(option_ids) == 0:
                raise ValueError(f"choice {option!r} has no tokens")
            rows.append((prompt_ids + option_ids, [IGNORE_INDEX] * len(prompt_ids) + option_ids))
    pad = _pad_id(tokenizer)
    scores, counts = [], []
    for start in range(0, len(rows), batch_size):
        chunk = rows[start : start + batch_size]
        width = max(len(ids) for ids, _ in chunk)
        ids = torch.full((len(chunk), width), pad, dtype=torch.long)
        labels = torch.full((len(chunk), width), IGNORE_INDEX, dtype=torch.long)
        mask = torch.zeros((len(chunk), width), dtype=torch.long)
        for r, (row_ids, row_labels) in enumerate(chunk):
            ids[r, : len(row_ids)] = torch.tensor(row_ids)
            labels[r, : len(row_labels)] = torch.tensor(row_labels)
            mask[r, : len(row_ids)] = 1
        logits = model(input_ids=ids, attention_mask=mask).logits
        scores.append(sequence_logprob(logits, labels))
        counts.append((labels[:, 1:] != IGNORE_INDEX).sum(dim=-1))
    c = len(per_prompt[0])
    return ChoiceScores(
        torch.cat(scores).view(len(prompts), c), torch.cat(counts).view(len(prompts), c)
    )


@torch.no_grad()
def next_token_logprobs(
    model: Any,
    tokenizer: Any,
    texts: Sequence[str],
    *,
    prefix: str = "",
    batch_size: int = 16,
) -> torch.Tensor:
    """Log-probabilities of the next token after ``prefix + text``, for each text: ``(n, vocab)``.

    The shared ``prefix`` (e.g. the instruction and the demonstrations of a few-shot prompt) is
    run once; its keys and values (``past_key_values``) are copied for every batch of texts,
    which then cost only their own tokens. Each ``prefix + text`` is tokenized as one string, and
    must begin with the prefix's own tokens (``ValueError`` otherwise), so the result equals
    running each whole prompt alone. The output layer, a matrix product with the whole
    vocabulary, runs only at each text's last position (``logits_to_keep``). When every answer
    is one token, its log-likelihood is one entry of a row: ``out[:, token_id]``. Texts are run
    sorted by length, so that a batch holds little padding.
    """
    texts = _check_texts("texts", texts)
    batch_size = _check_batch_size(batch_size)
    if not isinstance(prefix, str):
        raise TypeError(f"prefix must be a str, got {type(prefix).__name__}")
    prefix_ids = tokenizer(prefix).input_ids if prefix else []
    cache = None
    if prefix_ids:
        cache = model(input_ids=torch.tensor([prefix_ids]), use_cache=True).past_key_values
    encoded = []
    for text in texts:
        joint = tokenizer(prefix + text).input_ids
        if joint[: len(prefix_ids)] != prefix_ids:
            raise ValueError(
                f"prefix + {text[:30]!r} does not start with the prefix's own tokens: the "
                "boundary merges into another token (a prefix ending in whitespace, such as "
                "'\\n\\n' or ' ', often does). End the prefix with a word, punctuation or a single "
                "'\\n'."
            )
        if len(joint) == len(prefix_ids):
            raise ValueError(f"text {text!r} has no tokens")
        encoded.append(joint[len(prefix_ids) :])
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))  # less padding
    pad = _pad_id(tokenizer)
    out = torch.empty(0)
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        chunk = [encoded[i] for i in rows]
        width = max(len(c) for c in chunk)
        ids = torch.full((len(chunk), width), pad, dtype=torch.long)
        mask = torch.zeros((len(chunk), len(prefix_ids) + width), dtype=torch.long)
        mask[:, : len(prefix_ids)] = 1
        for r, row in enumerate(chunk):
            ids[r, : len(row)] = torch.tensor(row)
            mask[r, len(prefix_ids) : len(prefix_ids) + len(row)] = 1
        kwargs = {}
        if cache is not None:
            batch_cache = copy.deepcopy(cache)  # the forward pass appends to the cache
            batch_cache.batch_repeat_interleave(len(chunk))
            kwargs["past_key_values"] = batch_cache
        last = torch.tensor([len(c) - 1 for c in chunk])  # each row's last real position
        logits = model(
            input_ids=ids,
            attention_mask=mask,
            use_cache=cache is not None,
            logits_to_keep=last[:, None],  # the output layer runs on these positions only
            **kwargs,
        ).logits  # (rows, 1, vocab)
        logprobs = torch.log_softmax(logits[:, 0].float(), dim=-1)
        if out.numel() == 0:
            out = torch.empty(len(texts), logprobs.shape[-1])
        out[rows] = logprobs
    return out


# ----------------------------------------------------------------------------- perplexity


@torch.no_grad()
def perplexity(
    model: Any,
    tokenizer: Any,
    texts: Sequence[str],
    *,
    batch_size: int = 8,
    per_text: bool = False,
) -> float | torch.Tensor:
    """Perplexity of ``texts``: ``exp`` of the mean negative log-likelihood per token.

    Every token but each text's first is predicted from the tokens before it (the first has no
    context, unless the tokenizer adds a beginning-of-text token). With ``per_text=False``
    (default) the mean is over all the tokens of all the texts (a float: the corpus
    perplexity); with ``per_text=True`` each text gets its own, a ``(n,)`` tensor.
    """
    texts = _check_texts("texts", texts)
    batch_size = _check_batch_size(batch_size)
    encoded = [tokenizer(t).input_ids for t in texts]
    if any(len(ids) < 2 for ids in encoded):
        raise ValueError("every text needs at least 2 tokens (the first is only context)")
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))  # less padding
    pad = _pad_id(tokenizer)
    nll, count = [], []
    for start in range(0, len(order), batch_size):
        chunk = [encoded[i] for i in order[start : start + batch_size]]
        width = max(len(c) for c in chunk)
        ids = torch.full((len(chunk), width), pad, dtype=torch.long)
        labels = torch.full((len(chunk), width), IGNORE_INDEX, dtype=torch.long)
        mask = torch.zeros((len(chunk), width), dtype=torch.long)
        for r, row in enumerate(chunk):
            ids[r, : len(row)] = labels[r, : len(row)] = torch.tensor(row)
            mask[r, : len(row)] = 1
        logprobs, counted = token_logprobs(model(input_ids=ids, attention_mask=mask).logits, labels)
        nll.append(-logprobs.sum(dim=-1))
        count.append(counted.sum(dim=-1))
    nll_t, count_t = torch.empty(len(texts)), torch.empty(len(texts))
    nll_t[order], count_t[order] = torch.cat(nll), torch.cat(count).float()
    if per_text:
        return torch.exp(nll_t / count_t)
    return math.exp((nll_t.sum() / count_t.sum()).item())


# ----------------------------------------------------------------------------- exact match

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = str.maketrans("", "", string.punctuation)


def normalize_answer(text: str) -> str:
    """The SQuAD normalisation (Rajpurkar et al., 2016): lower case, no punctuation, no
    articles (a, an, the), single spaces. ``"The  Eiffel Tower!"`` -> ``"eiffel tower"``."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    text = text.lower().translate(_PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(prediction: str, references: str | Sequence[str]) -> bool:
    """Does the normalised ``prediction`` equal a normalised reference (one or several)?"""
    if isinstance(references, str):
        references = [references]
    references = _check_texts("references", references)
    guess = normalize_answer(prediction)
    return any(guess == normalize_answer(r) for r in references)


# ------------------------------------------------------------------------- an LLM as a judge

#: The instruction of 09.2's pairwise judge.
JUDGE_INSTRUCTION = (
    "You are a judge. Read the question and the two answers, then reply with the "
    "letter of the correct answer, A or B."
)


def judge_prompt(
    tokenizer: Any,
    question: str,
    first: str,
    second: str,
    instruction: str = JUDGE_INSTRUCTION,
) -> str:
    """A pairwise judge's chat prompt: the instruction, the question, answers "A" and "B".

    Returns the templated text, ending where the assistant's reply (the verdict) begins.
    """
    for name, value in (("question", question), ("first", first), ("second", second)):
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"{name} must be a non-empty string, got {value!r}")
    if getattr(tokenizer, "chat_template", None) is None:
        raise ValueError("this tokenizer has no chat template")
    content = f"{instruction}\n\nQuestion: {question}\nAnswer A: {first}\nAnswer B: {second}"
    return tokenizer.apply_chat_template(
        [{"role": "user", "content": content}], add_generation_prompt=True, tokenize=False
    )


# ------------------------------------------------------------- small hand-written test sets


class MCQuestion(NamedTuple):
    """A multiple-choice question: ``choices[answer]`` is the right one."""

    question: str
    choices: tuple[str, ...]
    answer: int


#: Twelve easy general-knowledge questions with four choices each (written for the course; the
#: right answer's position was shuffled). Some choices are longer than others, on purpose.
MULTIPLE_CHOICE = (
    MCQuestion("What do bees make?", ("glass", "honey", "bread", "milk"), 1),
    MCQuestion("Which animal is the largest?", ("an ant", "a mouse", "the blue whale", "a cat"), 2),
    MCQuestion(
        "What is the boiling point of water at sea level?",
        ("100 degrees Celsius", "1,000 degrees Celsius", "10 degrees Celsius", "0 degrees Celsius"),
        0,
    ),
    MCQuestion(
        "Which planet is closest to the Sun?", ("Neptune", "Saturn", "Mercury", "Jupiter"), 2
    ),
    MCQuestion("How many legs does a spider have?", ("two", "four", "six", "eight"), 3),
    MCQuestion("What is the opposite of hot?", ("tall", "warm", "loud", "cold"), 3),
    MCQuestion(
        "Who wrote Romeo and Juliet?",
        ("Charles Dickens", "William Shakespeare", "Jane Austen", "Mark Twain"),
        1,
    ),
    MCQuestion(
        "What do plants need to make their food?", ("salt", "plastic", "darkness", "sunlight"), 3
    ),
    MCQuestion("What is frozen water called?", ("steam", "sand", "oil", "ice"), 3),
    MCQuestion("Which is a fruit?", ("a carrot", "an apple", "a potato", "an onion"), 1),
    MCQuestion(
        "What does a thermometer measure?", ("weight", "temperature", "distance", "time"), 1
    ),
    MCQuestion(
        "Which gas do humans need to breathe?", ("oxygen", "neon", "carbon monoxide", "helium"), 0
    ),
)

#: Twelve short questions with their accepted answers, for exact match.
SHORT_QA = (
    ("What is the capital of France?", ("Paris",)),
    ("What is the capital of Japan?", ("Tokyo",)),
    ("How many days are in a week?", ("7", "seven")),
    ("What color is the sky on a clear day?", ("blue",)),
    ("What is 2 + 3?", ("5", "five")),
    ("Who wrote Hamlet?", ("William Shakespeare", "Shakespeare")),
    ("What is the largest ocean on Earth?", ("the Pacific Ocean", "Pacific")),
    ("What is the chemical symbol for gold?", ("Au",)),
    ("How many legs does a cat have?", ("4", "four")),
    ("What is the capital of Italy?", ("Rome",)),
    ("What is 10 times 10?", ("100", "one hundred")),
    ("In which continent is Egypt?", ("Africa",)),
)

#: Twelve (question, right answer, wrong answer) triples for an LLM judge.
JUDGE_PAIRS = (
    ("What is the capital of France?", "Paris.", "Berlin."),
    ("How many legs does a spider have?", "Eight.", "Six."),
    ("What is 7 + 5?", "12", "13"),
    ("What do bees make?", "Honey.", "Milk."),
    ("What is the largest planet in the solar system?", "Jupiter.", "Mars."),
    ("Who painted the Mona Lisa?", "Leonardo da Vinci.", "Vincent van Gogh."),
    ("What is frozen water called?", "Ice.", "Steam."),
    ("What is the opposite of up?", "Down.", "Left."),
    ("How many hours are in a day?", "24.", "12."),
    ("What is the capital of Japan?", "Tokyo.", "Beijing."),
    ("Which animal barks?", "A dog.", "A cat."),
    ("What colour is grass?", "Green.", "Purple."),
)
