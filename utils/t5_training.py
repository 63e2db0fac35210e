"""Training and using a small text-to-text T5 with ``transformers`` (chapter 08.3 writes each
piece first; 08.4 and the solutions load the result).

* :func:`train_tokenizer`: a subword tokenizer with T5's special tokens (``<pad>`` = 0,
  ``</s>`` = 1, ``<unk>`` = 2, then the sentinels ``<extra_id_0>``, ...), trained on the task
  texts. It is a ``transformers`` ``PreTrainedTokenizerFast``, so ``save_pretrained`` and
  ``AutoTokenizer.from_pretrained`` work.
* :func:`encode`: a padded batch of ``(task, input, target)`` examples, with ``labels``
  (``-100`` where the target is padding, so the loss skips it).
* :func:`train_text2text`: the training loop of 08.3 (AdamW, warm-up and cosine decay, clipping
  at 1) on random batches of examples.
* :func:`predict` and :func:`exact_match`: ``generate()`` on many inputs, and the share of
  predictions equal to the target, per task.
* :data:`COURSE_T5`, :func:`build_course_t5`, :func:`load_course_t5`: the recipe of the course's
  own T5, trained once (about a minute) and kept in ``.cache/models/course-t5/``.
"""

from __future__ import annotations

import json
import random
import shutil
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .language_modeling import cosine_learning_rate
from .paths import cache_dir, short_path
from .validation import check_int, check_number, check_positive_int

#: T5's first three ids; the sentinels follow.
SPECIAL_TOKENS = ("<pad>", "</s>", "<unk>")

#: The course T5: data, tokenizer, model sizes and training (08.3 trains exactly this).
COURSE_T5: dict[str, Any] = {
    "n_train": 30_000,
    "n_test": 500,
    "seed": 0,
    "vocab_size": 800,
    "num_sentinels": 10,
    "model": dict(
        d_model=96,
        d_kv=4,  # 24 heads of 4: many small heads (see 08.3 and its exercise 6)
        d_ff=192,
        num_layers=2,
        num_heads=24,
        feed_forward_proj="gated-gelu",
        tie_word_embeddings=True,
        dropout_rate=0.0,
    ),
    "steps": 800,
    "batch_size": 32,
    "lr": 3e-3,
    "warmup": 100,
}


def _check_examples(examples: object) -> list[tuple[str, str, str]]:
    if not isinstance(examples, Sequence) or not examples:
        raise ValueError("examples must be a non-empty list of (task, input, target) triples")
    for example in examples:
        if not (
            isinstance(example, tuple | list)
            and len(example) == 3
            and all(isinstance(part, str) for part in example)
        ):
            raise ValueError(f"each example must be (task, input, target) strings, got {example!r}")
    return [tuple(example) for example in examples]  # type: ignore[misc]


def train_tokenizer(texts: Sequence[str], vocab_size: int, num_sentinels: int = 100) -> Any:
    """A subword tokenizer for T5, trained on ``texts``: ``transformers``
    ``PreTrainedTokenizerFast``.

    Byte-pair encoding (chapter 02) on words marked as SentencePiece marks them (``"▁"`` starts
    each word, so spaces survive decoding), with T5's special tokens first: ``<pad>`` = 0,
    ``</s>`` = 1, ``<unk>`` = 2, ``<extra_id_0>`` = 3, ... (``num_sentinels`` of them; T5 has 100,
    at the *end* of its vocabulary). Encoding appends ``</s>`` to every text, as T5's does.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    if isinstance(texts, str) or not isinstance(texts, Sequence) or not texts:
        raise ValueError("texts must be a non-empty list of strings")
    check_positive_int("vocab_size", vocab_size)
    check_positive_int("num_sentinels", num_sentinels)
    sentinels = [f"<extra_id_{i}>" for i in range(num_sentinels)]
    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
    tokenizer.decoder = decoders.Metaspace()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[*SPECIAL_TOKENS, *sentinels],
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer)
    tokenizer.post_processor = processors.TemplateProcessing(
        single="$A </s>", pair="$A </s> $B </s>", special_tokens=[("</s>", 1)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        pad_token="<pad>",
        eos_token="</s>",
        unk_token="<unk>",
        extra_special_tokens=sentinels,
    )


def encode(tokenizer: Any, examples: Sequence[tuple[str, str, str]]) -> dict[str, torch.Tensor]:
    """A batch for ``T5ForConditionalGeneration``: ``input_ids`` and ``attention_mask``
    ``(batch, src_len)`` (padded on the right), and ``labels`` ``(batch, tgt_len)``, the target
    ids with ``</s>``, ``-100`` at the padding (the loss ignores it)."""
    examples = _check_examples(examples)
    batch = tokenizer([source for _, source, _ in examples], padding=True, return_tensors="pt")
    labels = tokenizer([target for _, _, target in examples], padding=True, return_tensors="pt")
    ids = labels.input_ids.masked_fill(labels.attention_mask == 0, -100)
    return {"input_ids": batch.input_ids, "attention_mask": batch.attention_mask, "labels": ids}


def train_text2text(
    model: nn.Module,
    tokenizer: Any,
    examples: Sequence[tuple[str, str, str]],
    *,
    steps: int,
    batch_size: int,
    lr: float,
    warmup: int = 100,
    weight_decay: float = 0.01,
    seed: int = 0,
    desc: str | None = "training",
) -> list[float]:
    """Train a ``T5ForConditionalGeneration`` (or any model whose ``forward(input_ids,
    attention_mask, labels)`` returns ``.loss``) on random batches of ``examples``: AdamW, linear
    warm-up and cosine decay (07.1's schedule), gradients clipped at 1. Returns the loss of every
    step. ``seed`` fixes the batches (``random.Random(seed)``)."""
    from .env import progress

    examples = _check_examples(examples)
    check_positive_int("steps", steps)
    check_positive_int("batch_size", batch_size)
    check_number("lr", lr, low=0, low_open=True)
    if not 0 <= check_int("warmup", warmup) < steps:
        raise ValueError(f"warmup must be in [0, steps={steps}), got {warmup}")
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    rng = random.Random(seed)
    losses = []
    model.train()
    for step in progress(range(steps), desc=desc) if desc else range(steps):
        for group in optimizer.param_groups:
            group["lr"] = cosine_learning_rate(step, steps=steps, warmup=warmup, lr=lr)
        batch = encode(tokenizer, [rng.choice(examples) for _ in range(batch_size)])
        loss = model(**batch).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        losses.append(loss.item())
    model.eval()
    return losses


@torch.no_grad()
def predict(
    model: Any,
    tokenizer: Any,
    inputs: Sequence[str],
    *,
    num_beams: int = 1,
    max_new_tokens: int = 32,
    batch_size: int = 250,
) -> list[str]:
    """``model.generate`` on ``inputs`` (texts), in batches: greedy with ``num_beams=1``, beam
    search otherwise. Returns the decoded texts, special tokens removed."""
    if isinstance(inputs, str) or not isinstance(inputs, Sequence):
        raise ValueError("inputs must be a list of strings")
    check_positive_int("num_beams", num_beams)
    check_positive_int("batch_size", batch_size)
    model.eval()
    texts: list[str] = []
    for start in range(0, len(inputs), batch_size):
        batch = tokenizer(
            list(inputs[start : start + batch_size]), padding=True, return_tensors="pt"
        )
        out = model.generate(
            **batch, max_new_tokens=max_new_tokens, num_beams=num_beams, do_sample=False
        )
        texts += tokenizer.batch_decode(out, skip_special_tokens=True)
    return texts


def exact_match(
    examples: Sequence[tuple[str, str, str]], predictions: Sequence[str]
) -> dict[str, float]:
    """The share of ``predictions`` equal to their example's target, per task (in the order the
    tasks first appear), and over all as ``"all"``."""
    examples = _check_examples(examples)
    if len(predictions) != len(examples):
        raise ValueError(f"{len(examples)} examples but {len(predictions)} predictions")
    right: dict[str, list[bool]] = defaultdict(list)
    for (task, _, target), prediction in zip(examples, predictions, strict=True):
        right[task].append(prediction == target)
    right["all"] = [flag for flags in list(right.values()) for flag in flags]
    return {task: sum(flags) / len(flags) for task, flags in right.items()}


# ------------------------------------------------------------------------ the course's T5
def course_t5_dir() -> Path:
    """Where the course T5 is kept: ``.cache/models/course-t5``."""
    return cache_dir("models") / "course-t5"


def course_t5_data() -> tuple[list[tuple[str, str, str]], list[tuple[str, str, str]]]:
    """The training and test examples of :data:`COURSE_T5` (``utils.text2text``, every task)."""
    from .text2text import split_examples

    r = COURSE_T5
    return split_examples(r["n_train"], r["n_test"], seed=r["seed"])


def course_t5_model(vocab_size: int) -> Any:
    """A fresh ``T5ForConditionalGeneration`` of :data:`COURSE_T5`'s sizes: its initial weights
    come from ``COURSE_T5["seed"]``, and PyTorch's global random number generator is left as it
    was."""
    from transformers import T5Config, T5ForConditionalGeneration

    check_positive_int("vocab_size", vocab_size)
    config = T5Config(
        vocab_size=vocab_size,
        pad_token_id=0,
        eos_token_id=1,
        decoder_start_token_id=0,
        **COURSE_T5["model"],
    )
    with torch.random.fork_rng():
        torch.manual_seed(COURSE_T5["seed"])
        return T5ForConditionalGeneration(config)


def save_course_t5(model: Any, tokenizer: Any, folder: Path | None = None) -> Path:
    """``save_pretrained`` of the model and tokenizer into ``folder`` (the course T5's by
    default), with ``recipe.json`` (:data:`COURSE_T5`), written whole or not at all."""
    folder = Path(folder) if folder is not None else course_t5_dir()
    from .pretrained import _quiet_loading

    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    with _quiet_loading(progress=False):
        model.save_pretrained(partial)
        tokenizer.save_pretrained(partial)
    (partial / "recipe.json").write_text(json.dumps(COURSE_T5, indent=1, sort_keys=True))
    shutil.rmtree(folder, ignore_errors=True)
    partial.rename(folder)
    return folder


def build_course_t5(desc: str | None = "training the course T5") -> Path:
    """Train the course T5 by :data:`COURSE_T5` (about a minute on 2 CPU cores) and save it."""
    r = COURSE_T5
    train, _ = course_t5_data()
    tokenizer = train_tokenizer(
        [text for _, source, target in train for text in (source, target)],
        r["vocab_size"],
        r["num_sentinels"],
    )
    model = course_t5_model(len(tokenizer))
    train_text2text(
        model,
        tokenizer,
        train,
        steps=r["steps"],
        batch_size=r["batch_size"],
        lr=r["lr"],
        warmup=r["warmup"],
        seed=r["seed"],
        desc=desc,
    )
    return save_course_t5(model, tokenizer)


def load_course_t5(build: bool = True) -> tuple[Any, Any]:
    """The course T5 and its tokenizer, from ``.cache/models/course-t5`` (what 08.3 saves).

    If the folder is missing or was trained by another recipe, it is trained first with
    ``build=True`` (about a minute), else ``FileNotFoundError`` says what to run."""
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    folder = course_t5_dir()
    recipe = folder / "recipe.json"
    current = json.loads(json.dumps(COURSE_T5))  # as saved: tuples become lists
    if not recipe.is_file() or json.loads(recipe.read_text()) != current:
        if not build:
            raise FileNotFoundError(
                f"the course T5 is not in {short_path(folder)}: run the notebook "
                "chapters/08_t5/03_training_a_t5.ipynb or utils.t5_training.build_course_t5()"
            )
        print(f"The course T5 is not in {short_path(folder)} yet: training it (about a minute).")
        build_course_t5()
    from .pretrained import _quiet_loading

    with _quiet_loading(progress=False):
        model = AutoModelForSeq2SeqLM.from_pretrained(folder).eval()
        return model, AutoTokenizer.from_pretrained(folder)
