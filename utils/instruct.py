"""Instruction tuning and preference tuning of a chat model (chapter 09).

* :func:`chat_example`: one (prompt, answer) pair written in the model's chat template, as
  ``input_ids`` and ``labels`` with the prompt set to ``IGNORE_INDEX``, so that the loss counts
  the answer's tokens only (and the end-of-turn token that closes it).
* :func:`pad_collate`: a batch of such examples padded on the right, with the attention mask.
* :func:`date_task`: a generated instruction task with a fixed answer format, "write this ISO
  date in words" (``2017-04-12`` → ``12 April 2017``), with held-out prompts.
* :func:`exact_match`: the share of answers that is exactly right (the answers come from
  :func:`utils.pretrained.chat_batch` with :data:`SYSTEM`).
* :func:`dpo_loss`: the loss of Direct Preference Optimization (Rafailov et al., 2023, "Direct
  Preference Optimization: Your Language Model is Secretly a Reward Model").
"""

from __future__ import annotations

import datetime
import random
import re
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

from .scoring import IGNORE_INDEX
from .text2text import MONTHS

#: The instruction of :func:`date_task`; ``{date}`` is an ISO date such as ``2017-04-12``.
DATE_PROMPT = "Write the date {date} in words."
#: A short system message (SmolLM2's template adds a longer default one when there is none).
SYSTEM = "Be brief."


def _messages(prompt: str, system: str | None) -> list[dict[str, str]]:
    if not isinstance(prompt, str) or not prompt.strip():
        raise ValueError(f"prompt must be a non-empty string, got {prompt!r}")
    if system is not None and not isinstance(system, str):
        raise TypeError(f"system must be a string or None, got {type(system).__name__}")
    return ([{"role": "system", "content": system}] if system else []) + [
        {"role": "user", "content": prompt}
    ]


def _template_ids(tokenizer: Any, messages: list[dict[str, str]], generation: bool) -> list[int]:
    out = tokenizer.apply_chat_template(
        messages, add_generation_prompt=generation, tokenize=True, return_dict=True
    )
    return list(out["input_ids"])


def prompt_ids(tokenizer: Any, prompt: str, system: str | None = SYSTEM) -> list[int]:
    """The token ids of ``prompt`` in the chat template, ending with the assistant's header (what
    the model reads before it answers)."""
    if getattr(tokenizer, "chat_template", None) is None:
        raise ValueError("this tokenizer has no chat template")
    return _template_ids(tokenizer, _messages(prompt, system), generation=True)


def chat_example(
    tokenizer: Any, prompt: str, answer: str, system: str | None = SYSTEM
) -> dict[str, torch.Tensor]:
    """One training example of instruction tuning.

    The conversation (``system``, the user's ``prompt``, the assistant's ``answer``) is written
    with the tokenizer's chat template and cut after the end-of-turn token (``eos_token``) that
    closes the answer. Returns ``{"input_ids", "labels"}``, both ``(seq,)`` int64: ``labels`` is
    ``input_ids`` with the prompt's positions (everything up to and including the assistant's
    header) set to ``IGNORE_INDEX``. With ``system=None`` (or ``""``) the template decides;
    SmolLM2's then inserts its own default system message.
    """
    if not isinstance(answer, str) or not answer.strip():
        raise ValueError(f"answer must be a non-empty string, got {answer!r}")
    messages = _messages(prompt, system)
    context = prompt_ids(tokenizer, prompt, system)
    full = _template_ids(tokenizer, [*messages, {"role": "assistant", "content": answer}], False)
    if full[: len(context)] != context:
        raise ValueError("the chat template does not start the full conversation with the prompt")
    eos = tokenizer.eos_token_id
    try:
        end = full.index(eos, len(context)) + 1  # keep the end-of-turn token, drop what follows
    except ValueError:
        raise ValueError(f"no end-of-turn token {tokenizer.eos_token!r} after the answer") from None
    input_ids = torch.tensor(full[:end], dtype=torch.long)
    labels = input_ids.clone()
    labels[: len(context)] = IGNORE_INDEX
    return {"input_ids": input_ids, "labels": labels}


def pad_collate(
    examples: Sequence[dict[str, torch.Tensor]], pad_id: int
) -> dict[str, torch.Tensor]:
    """Pad examples of :func:`chat_example` on the right into a batch.

    Returns ``{"input_ids", "attention_mask", "labels"}``, each ``(batch, longest)``: padding gets
    ``pad_id``, attention 0 and label ``IGNORE_INDEX``.
    """
    if len(examples) == 0:
        raise ValueError("examples is empty")
    if isinstance(pad_id, bool) or not isinstance(pad_id, int) or pad_id < 0:
        raise ValueError(f"pad_id must be a token id (int >= 0), got {pad_id!r}")
    for e in examples:
        if not {"input_ids", "labels"} <= set(e) or e["input_ids"].shape != e["labels"].shape:
            raise ValueError("each example needs 'input_ids' and 'labels' of the same shape (seq,)")
    longest = max(len(e["input_ids"]) for e in examples)
    batch = {
        "input_ids": torch.full((len(examples), longest), pad_id, dtype=torch.long),
        "attention_mask": torch.zeros((len(examples), longest), dtype=torch.long),
        "labels": torch.full((len(examples), longest), IGNORE_INDEX, dtype=torch.long),
    }
    for i, e in enumerate(examples):
        n = len(e["input_ids"])
        batch["input_ids"][i, :n] = e["input_ids"]
        batch["attention_mask"][i, :n] = 1
        batch["labels"][i, :n] = e["labels"]
    return batch


def date_answer(date: datetime.date) -> str:
    """The answer format the task teaches: ``2017-04-12`` → ``"12 April 2017"``."""
    return f"{date.day} {MONTHS[date.month - 1]} {date.year}"


def date_task(
    n_train: int, n_test: int, seed: int = 0
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """``(prompt, answer)`` pairs: ``"Write the date 2017-04-12 in words."`` → ``"12 April
    2017"``, dates drawn from 2000 to 2029 with ``random.Random(seed)``. The test dates never
    occur in training."""
    for name, n in (("n_train", n_train), ("n_test", n_test)):
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"{name} must be an int >= 1, got {n!r}")
    if n_train + n_test > 5000:
        raise ValueError(f"at most 5000 dates in all, got {n_train + n_test}")
    rng = random.Random(seed)
    start = datetime.date(2000, 1, 1)
    days = rng.sample(range(366 * 30), n_train + n_test)  # all different
    pairs = []
    for day in days:
        date = start + datetime.timedelta(days=day)
        pairs.append((DATE_PROMPT.format(date=date.isoformat()), date_answer(date)))
    return pairs[:n_train], pairs[n_train:]


@torch.no_grad()
def exact_match(answers: Sequence[str], targets: Sequence[str]) -> float:
    """Share of ``answers`` equal to their target (after collapsing runs of whitespace)."""
    if len(answers) != len(targets) or len(answers) == 0:
        raise ValueError(
            f"need as many answers as targets (and at least one), got {len(answers)} and "
            f"{len(targets)}"
        )

    def norm(s: str) -> str:
        return re.sub(r"\s+", " ", s).strip()

    return sum(norm(a) == norm(t) for a, t in zip(answers, targets, strict=True)) / len(answers)


def dpo_loss(
    policy_chosen: torch.Tensor,
    policy_rejected: torch.Tensor,
    reference_chosen: torch.Tensor,
    reference_rejected: torch.Tensor,
    beta: float = 0.1,
) -> torch.Tensor:
    """The DPO loss, averaged over the pairs of the batch (a scalar):

    ``-log σ(β [(log π(y_w|x) - log π_ref(y_w|x)) - (log π(y_l|x) - log π_ref(y_l|x))])``

    Each argument is ``(batch,)``: the sequence log-probability of the chosen answer ``y_w`` or
    the rejected answer ``y_l`` under the policy being trained or the frozen reference model
    (e.g. :func:`utils.scoring.sequence_logprob`). When the policy equals the reference the loss
    is ``log 2``.
    """
    tensors = (policy_chosen, policy_rejected, reference_chosen, reference_rejected)
    if not all(isinstance(t, torch.Tensor) for t in tensors):
        raise TypeError("the four log-probabilities must be tensors")
    if any(t.dim() != 1 or t.shape != policy_chosen.shape for t in tensors):
        shapes = [tuple(t.shape) for t in tensors]
        raise ValueError(f"the four log-probabilities must be (batch,) of one shape, got {shapes}")
    if isinstance(beta, bool) or not isinstance(beta, int | float) or beta <= 0:
        raise ValueError(f"beta must be a positive number, got {beta!r}")
    margin = (policy_chosen - reference_chosen) - (policy_rejected - reference_rejected)
    return -F.logsigmoid(beta * margin).mean()
