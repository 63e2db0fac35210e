"""RNN encoder-decoders, with and without additive attention: why attention was invented.

Before the Transformer, translation models were two recurrent networks. An **encoder** reads the
source sentence into hidden states ``h_1 … h_n``; a **decoder** writes the target one token at a
time. In the first such models (Cho et al. 2014; Sutskever et al. 2014) the decoder sees the
source only through the encoder's **final** state, one fixed-size vector, however long the
sentence. Bahdanau, Cho and Bengio (2014) let the decoder look back at *every* encoder state
instead, with **additive attention**: at each output step ``i`` it scores every annotation
``h_j`` against its own previous state ``s``,

    e_j = vᵀ tanh(W s + U h_j),    α = softmax(e),    c = Σ_j α_j h_j,

and feeds the context vector ``c`` to the decoder with the previous output token.

* :class:`AdditiveAttention` is that equation, on its own.
* :class:`RNNSeq2Seq` is a GRU encoder and a GRU decoder. Its decoder input at every step is the
  previous target token's embedding and a context vector: with ``attention=False`` the context is
  the encoder's final state at every step (Cho et al. 2014), with ``attention=True`` it is the
  attention-weighted average of all encoder states (Bahdanau et al. 2014). Nothing else differs,
  so comparing the two measures what attention adds. (Bahdanau's encoder reads the sentence in
  both directions; ours reads it left to right so that the two models share the same encoder.)
* :func:`digit_task` is a translation task whose difficulty is its length: digit strings read
  out in English → the same digits in French (``"four one seven"`` → ``"quatre un sept"``).
  Every word is a fresh random digit, so a longer source carries more to remember, and the
  alignment is one word to one word.
* :func:`train` trains with teacher forcing; :func:`greedy_decode` writes outputs one token at a
  time; :func:`exact_matches` and :func:`exact_match_by_length` score them, per source length,
  which is where a fixed-size context shows its limit.

The models also have the ``encode``/``decode`` interface of :mod:`utils.decoding`, so its
greedy and beam search run on them too.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from .seq2seq import Seq2SeqData, WordVocab, _trim, make_data
from .validation import (
    check_dtype,
    check_ids,
    check_int,
    check_number,
    check_positive_int,
    check_shape,
    check_tensor,
    check_type,
)

#: The digit words of :func:`digit_task`, English and French.
DIGITS_EN = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
DIGITS_FR = ("zéro", "un", "deux", "trois", "quatre", "cinq", "six", "sept", "huit", "neuf")


# ---------------------------------------------------------------------------------------- data
@dataclass
class DigitTask:
    """The digit-string task, ready to train on (the fields of :class:`utils.seq2seq.NumberTask`
    that the models need), and each test pair's source length in words."""

    train: Seq2SeqData
    test: Seq2SeqData
    src_vocab: WordVocab
    tgt_vocab: WordVocab
    test_lengths: torch.Tensor


def digit_task(
    n_train: int = 5000,
    n_test: int = 1000,
    min_len: int = 3,
    max_len: int = 12,
    seed: int = 0,
) -> DigitTask:
    """Random digit strings read out in English → French, ``"four one seven"`` → ``"quatre un
    sept"``, with a length drawn uniformly from ``min_len … max_len`` words.

    Each string is ``n`` independent random digits, so it carries ``n · log2(10) ≈ 3.3 n`` bits
    that a model has to get across from the source to the target: the longer the source, the
    more a fixed-size summary of it must hold. The test strings never occur in training
    (``min_len`` must leave enough distinct strings for that; 3 or more does). Encoded as in
    :func:`utils.seq2seq.number_task`: word vocabularies, sources ending with ``<eos>``, targets
    ``<bos> … <eos>``, right-padded.
    """
    for name, value in (("n_train", n_train), ("n_test", n_test), ("min_len", min_len)):
        check_positive_int(name, value)
    check_int("max_len", max_len, minimum=min_len)
    rng = random.Random(seed)

    def draw() -> tuple[int, ...]:
        return tuple(rng.randrange(10) for _ in range(rng.randint(min_len, max_len)))

    train = [draw() for _ in range(n_train)]
    seen, test = set(train), []
    for _ in range(100 * n_test):
        digits = draw()
        if digits not in seen:
            test.append(digits)
        if len(test) == n_test:
            break
    else:
        raise ValueError(
            f"could not draw {n_test} test strings unseen in training with min_len={min_len}: "
            "raise min_len or lower n_train"
        )

    def pairs(strings: list[tuple[int, ...]]) -> list[tuple[str, str]]:
        return [
            (" ".join(DIGITS_EN[d] for d in s), " ".join(DIGITS_FR[d] for d in s)) for s in strings
        ]

    train_pairs, test_pairs = pairs(train), pairs(test)
    src_vocab = WordVocab(en for en, _ in train_pairs)
    tgt_vocab = WordVocab(fr for _, fr in train_pairs)
    return DigitTask(
        make_data(train_pairs, src_vocab, tgt_vocab),
        make_data(test_pairs, src_vocab, tgt_vocab),
        src_vocab,
        tgt_vocab,
        torch.tensor([len(s) for s in test]),
    )


# ----------------------------------------------------------------------------------- attention
class AdditiveAttention(nn.Module):
    """Bahdanau et al. (2014)'s attention: ``e_j = vᵀ tanh(W s + U h_j)``, ``α = softmax(e)``,
    ``c = Σ_j α_j h_j``.

    ``W`` (``query_size → attention_size``), ``U`` (``key_size → attention_size``) and ``v``
    (``attention_size → 1``) are linear maps without bias, as in the paper's equation. The score
    is a one-hidden-layer network applied to every (query, key) pair; the dot product ``q · k``
    of :mod:`utils.attention` replaces it with no parameters at all.

    ``forward(query, keys, mask=None)``:

    * ``query`` ``(batch, query_size)``: the decoder's state ``s``;
    * ``keys`` ``(batch, seq_k, key_size)``: the encoder's states ``h_1 … h_n`` (they are also
      the values that get averaged);
    * ``mask`` bool ``(batch, seq_k)``, ``True`` where a key may be attended to (a real token,
      not padding), the convention of :mod:`utils.attention`.

    Returns ``(context (batch, key_size), weights (batch, seq_k))``; each row of ``weights``
    sums to 1 and is 0 where ``mask`` is ``False`` (a row whose mask allows nothing is all 0).
    """

    def __init__(self, query_size: int, key_size: int, attention_size: int) -> None:
        super().__init__()
        for name, value in (
            ("query_size", query_size),
            ("key_size", key_size),
            ("attention_size", attention_size),
        ):
            check_positive_int(name, value)
        self.W = nn.Linear(query_size, attention_size, bias=False)
        self.U = nn.Linear(key_size, attention_size, bias=False)
        self.v = nn.Linear(attention_size, 1, bias=False)

    def forward(
        self, query: torch.Tensor, keys: torch.Tensor, mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        self._check(query, keys, mask)
        hidden = torch.tanh(self.W(query)[:, None, :] + self.U(keys))  # (batch, seq_k, att)
        scores = self.v(hidden).squeeze(-1)  # (batch, seq_k): e_j
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        weights = torch.softmax(scores, dim=-1)  # (batch, seq_k): α_j
        if mask is not None:  # a row with nothing allowed is all -inf: softmax gives NaN, use 0
            weights = weights.masked_fill(~mask.any(-1, keepdim=True), 0.0)
        context = (weights[:, :, None] * keys).sum(1)  # (batch, key_size): Σ_j α_j h_j
        return context, weights

    def _check(self, query: torch.Tensor, keys: torch.Tensor, mask: torch.Tensor | None) -> None:
        q_size, k_size = self.W.in_features, self.U.in_features
        check_shape("query", query, (None, q_size), dims=f"(batch, query_size={q_size})")
        check_shape("keys", keys, (None, None, k_size), dims=f"(batch, seq_k, key_size={k_size})")
        if keys.shape[0] != query.shape[0]:
            raise ValueError(
                f"query and keys must share the batch size, got query of shape "
                f"{tuple(query.shape)} and keys of shape {tuple(keys.shape)}"
            )
        if mask is not None:
            check_tensor("mask", mask, ndim=2, dims="a bool tensor (batch, seq_k)")
            check_dtype("mask", mask, torch.bool, "a bool tensor, True where a key may be seen")
            check_shape("mask", mask, tuple(keys.shape[:2]), dims=f"{tuple(keys.shape[:2])}")

    def extra_repr(self) -> str:
        return (
            f"query_size={self.W.in_features}, key_size={self.U.in_features}, "
            f"attention_size={self.W.out_features}"
        )


# ------------------------------------------------------------------------------------- models
class RNNSeq2Seq(nn.Module):
    """A GRU encoder-decoder; ``attention=True`` adds Bahdanau's additive attention.

    Encoder: embed the source ids and run a GRU over them; its states ``h_1 … h_n``
    ``(batch, seq_s, hidden_size)`` are the *annotations*, and the state after the last real
    token is the *final state* ``h_n`` ``(batch, hidden_size)``.

    Decoder, one step (:meth:`step`): with the previous state ``s`` (``h_n`` at the start) and the
    previous target token ``y``,

    * context ``c = h_n`` (``attention=False``: the same vector at every step) or
      ``c, α = attention(s, h_1 … h_n)`` (``attention=True``: a new average at every step);
    * new state ``s' = GRUCell([embed(y); c], s)``;
    * logits ``= Linear([s'; c])`` over the target vocabulary (the paper's read-out is a maxout
      layer that also sees ``embed(y)``; one linear layer is enough here).

    ``model.attention`` is an ordinary attribute: any module called as ``attention(query (batch,
    hidden), keys (batch, seq_s, hidden), mask (batch, seq_s))`` that returns ``(context (batch,
    hidden), weights (batch, seq_s))`` can replace it, e.g. a dot-product score.

    ``forward(src, tgt_in)`` runs the decoder with teacher forcing: ``src`` ``(batch, seq_s)`` and
    ``tgt_in`` ``(batch, seq_t)`` (``<bos> y_1 … y_{T-1}``) → logits ``(batch, seq_t,
    tgt_vocab)``. With attention, the weights of that pass are kept in ``last_weights``
    ``(batch, seq_t, seq_s)``.

    Sources are right-padded with ``pad_id``, and every row needs at least one real token.
    """

    def __init__(
        self,
        src_vocab: int,
        tgt_vocab: int,
        *,
        attention: bool,
        embed_size: int = 32,
        hidden_size: int = 64,
        attention_size: int | None = None,
        pad_id: int = 0,
    ) -> None:
        super().__init__()
        for name, value in (
            ("src_vocab", src_vocab),
            ("tgt_vocab", tgt_vocab),
            ("embed_size", embed_size),
            ("hidden_size", hidden_size),
        ):
            check_positive_int(name, value)
        check_type("attention", attention, bool, "True or False")
        if attention_size is not None and not attention:
            raise ValueError("attention_size only applies to attention=True")
        self.pad_id = check_int("pad_id", pad_id, minimum=0)
        self.src_embed = nn.Embedding(src_vocab, embed_size)
        self.encoder = nn.GRU(embed_size, hidden_size, batch_first=True)
        self.tgt_embed = nn.Embedding(tgt_vocab, embed_size)
        self.attention = (
            AdditiveAttention(hidden_size, hidden_size, attention_size or hidden_size)
            if attention
            else None
        )
        self.cell = nn.GRUCell(embed_size + hidden_size, hidden_size)
        self.out = nn.Linear(2 * hidden_size, tgt_vocab)
        self.last_weights: torch.Tensor | None = None

    # The encoder ------------------------------------------------------------------------------
    def encode(self, src: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``src`` ``(batch, seq_s)`` → ``(annotations (batch, seq_s, hidden), src_mask (batch,
        seq_s))``, the mask ``True`` at real tokens. The GRU reads left to right, so the padding
        after a row's last token cannot change its states; the final state is the annotation
        at the last real token (:meth:`final_state`)."""
        self._check_ids("src", src, self.src_embed.num_embeddings)
        src_mask = src != self.pad_id
        bad = ~src_mask[:, 0] | (src_mask[:, 1:] & ~src_mask[:, :-1]).any(1)  # (batch,)
        if bad.any():
            row = int(bad.nonzero()[0, 0])
            raise ValueError(
                f"src must be right-padded with pad_id={self.pad_id}, every row starting with a "
                f"real token; got row {row} = {src[row].tolist()}"
            )
        annotations, _ = self.encoder(self.src_embed(src))  # (batch, seq_s, hidden)
        return annotations, src_mask

    @staticmethod
    def final_state(annotations: torch.Tensor, src_mask: torch.Tensor) -> torch.Tensor:
        """The encoder's state after each row's last real token: ``(batch, hidden)``."""
        last = src_mask.sum(1) - 1  # (batch,) index of the last real token
        return annotations[torch.arange(annotations.shape[0]), last]

    # The decoder ------------------------------------------------------------------------------
    def step(
        self,
        prev: torch.Tensor,
        state: torch.Tensor,
        annotations: torch.Tensor,
        src_mask: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """One decoder step: previous tokens ``prev`` ``(batch,)`` and state ``s`` ``(batch,
        hidden)`` → ``(logits (batch, tgt_vocab), new state (batch, hidden), weights (batch,
        seq_s) or None)``."""
        if self.attention is None:
            context, weights = self.final_state(annotations, src_mask), None
        else:
            context, weights = self.attention(state, annotations, src_mask)
        state = self.cell(torch.cat([self.tgt_embed(prev), context], dim=-1), state)
        logits = self.out(torch.cat([state, context], dim=-1))
        return logits, state, weights

    def decode(
        self, tgt_in: torch.Tensor, annotations: torch.Tensor, src_mask: torch.Tensor
    ) -> torch.Tensor:
        """Run the decoder over a whole target prefix ``tgt_in`` ``(batch, seq_t)`` →
        logits ``(batch, seq_t, tgt_vocab)`` (the interface of :mod:`utils.decoding`)."""
        self._check_ids("tgt_in", tgt_in, self.tgt_embed.num_embeddings)
        if tgt_in.shape[0] != annotations.shape[0]:
            raise ValueError(
                f"tgt_in has {tgt_in.shape[0]} rows for a batch of {annotations.shape[0]} sources"
            )
        state = self.final_state(annotations, src_mask)  # s_0 = h_n
        logits, weights = [], []
        for t in range(tgt_in.shape[1]):
            step_logits, state, w = self.step(tgt_in[:, t], state, annotations, src_mask)
            logits.append(step_logits)
            weights.append(w)
        self.last_weights = None if self.attention is None else torch.stack(weights, dim=1)
        return torch.stack(logits, dim=1)

    def forward(self, src: torch.Tensor, tgt_in: torch.Tensor) -> torch.Tensor:
        annotations, src_mask = self.encode(src)
        return self.decode(tgt_in, annotations, src_mask)

    @staticmethod
    def _check_ids(name: str, ids: torch.Tensor, vocab_size: int) -> None:
        check_ids(name, ids, vocab_size)
        if ids.shape[1] == 0:
            raise ValueError(
                f"{name} must have at least one position, got shape {tuple(ids.shape)}"
            )


# ----------------------------------------------------------------------------------- training
def train(
    model: RNNSeq2Seq,
    src: torch.Tensor,
    tgt: torch.Tensor,
    *,
    steps: int,
    batch_size: int = 64,
    lr: float = 3e-3,
    clip: float | None = 1.0,
    seed: int = 0,
    desc: str | None = "training",
    device: torch.device | str | None = None,
) -> list[float]:
    """Teacher forcing: sample ``batch_size`` pairs, feed ``tgt[:, :-1]`` (``<bos> y_1 …``) and
    predict ``tgt[:, 1:]`` (``y_1 … <eos>``) with cross-entropy, padding ignored; Adam with
    learning rate ``lr``, gradient norm clipped to ``clip`` (``None``: no clipping).

    ``src`` ``(n, seq_s)`` and ``tgt`` ``(n, seq_t)`` are right-padded with ``model.pad_id``.
    Batches are drawn with a local ``torch.Generator`` seeded by ``seed``, so the run repeats and
    the global random state is left alone. Shows a progress bar titled ``desc`` (``None``: no
    bar). Returns the loss of every step and leaves the model in eval mode.

    ``device``: where to train; ``None`` reads ``COURSE_DEVICE`` (:func:`utils.env.device`, the
    CPU by default). The model moves there for the training and back to its own device after.
    """
    from .env import on_device, progress

    check_positive_int("steps", steps)
    check_positive_int("batch_size", batch_size)
    check_number("lr", lr, low=0, low_open=True)
    if clip is not None:
        check_number("clip", clip, low=0, low_open=True)
    for name, ids in (("src", src), ("tgt", tgt)):
        check_tensor(name, ids, ndim=2, dims="(n, seq)")
        check_dtype(name, ids, torch.int64, "an int64 tensor (n, seq) of token ids")
    if src.shape[0] != tgt.shape[0]:
        raise ValueError(
            f"src and tgt must have one row per pair, got {src.shape[0]} and {tgt.shape[0]} rows"
        )
    if tgt.shape[1] < 2:
        raise ValueError(
            f"tgt must hold <bos> and at least one more token, got shape {tuple(tgt.shape)}"
        )
    with on_device(model, device) as device:
        generator = torch.Generator().manual_seed(seed)
        optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        model.train()
        losses = []
        for _ in progress(range(steps), desc=desc, disable=desc is None):
            idx = torch.randint(src.shape[0], (batch_size,), generator=generator)
            s = _trim(src[idx], model.pad_id).to(device)
            t = _trim(tgt[idx], model.pad_id).to(device)
            logits = model(s, t[:, :-1])  # (batch, seq_t - 1, tgt_vocab)
            loss = nn.functional.cross_entropy(
                logits.flatten(0, 1), t[:, 1:].flatten(), ignore_index=model.pad_id
            )
            optimizer.zero_grad()
            loss.backward()
            if clip is not None:
                nn.utils.clip_grad_norm_(model.parameters(), clip)
            optimizer.step()
            losses.append(loss.item())
        model.eval()
    return losses


# ----------------------------------------------------------------------------------- decoding
@torch.no_grad()
def greedy_decode(
    model: RNNSeq2Seq, src: torch.Tensor, *, bos_id: int, eos_id: int, max_len: int = 50
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Write each output one token at a time, always taking the most likely next token.

    ``src`` ``(batch, seq_s)`` → ``(ids (batch, ≤ max_len), weights)``: the output ids without
    ``<bos>``, each row ending with ``eos_id`` then ``model.pad_id`` unless it reached
    ``max_len`` first; ``weights`` ``(batch, steps, seq_s)`` are the attention weights of every
    step, row ``t`` the weights that produced output token ``t`` (``None`` without attention).
    The model must be in eval mode, as for :func:`utils.decoding.greedy_decode`.
    """
    if model.training:
        raise ValueError(
            "greedy_decode needs the model in eval mode, got a model in training mode: call "
            "model.eval() first (train() leaves it in eval mode)"
        )
    check_positive_int("max_len", max_len)
    check_int("bos_id", bos_id, minimum=0)
    check_int("eos_id", eos_id, minimum=0)
    annotations, src_mask = model.encode(src)
    state = model.final_state(annotations, src_mask)  # s_0 = h_n
    prev = torch.full((src.shape[0],), bos_id, dtype=torch.long, device=src.device)
    done = torch.zeros(src.shape[0], dtype=torch.bool, device=src.device)
    out, weights = [], []
    for _ in range(max_len):
        logits, state, w = model.step(prev, state, annotations, src_mask)
        prev = logits.argmax(-1).masked_fill(done, model.pad_id)  # (batch,)
        out.append(prev)
        weights.append(w)
        done |= prev == eos_id
        if done.all():
            break
    weights = None if model.attention is None else torch.stack(weights, dim=1)
    return torch.stack(out, dim=1), weights


@torch.no_grad()
def exact_matches(
    model: RNNSeq2Seq,
    src: torch.Tensor,
    tgt: torch.Tensor,
    *,
    bos_id: int,
    eos_id: int,
    max_len: int = 50,
) -> torch.Tensor:
    """Decode ``src`` ``(n, seq_s)`` greedily and compare with ``tgt`` ``(n, seq_t)`` (``<bos>
    … <eos>``, padded): bool ``(n,)``, ``True`` where every output token up to and including
    ``<eos>`` is right."""
    check_tensor("src", src, ndim=2, dims="(n, seq_s)")
    check_shape("tgt", tgt, (src.shape[0], None), dims=f"({src.shape[0]}, seq_t), a row per source")
    out, _ = greedy_decode(model, src, bos_id=bos_id, eos_id=eos_id, max_len=max_len)
    ref = tgt[:, 1:]  # drop <bos>
    width = max(out.shape[1], ref.shape[1])
    out = nn.functional.pad(out, (0, width - out.shape[1]), value=model.pad_id)
    ref = nn.functional.pad(ref, (0, width - ref.shape[1]), value=model.pad_id)
    return (out == ref).all(1)


def exact_match_by_length(
    model: RNNSeq2Seq,
    src: torch.Tensor,
    tgt: torch.Tensor,
    lengths: Sequence[int] | torch.Tensor,
    *,
    bos_id: int,
    eos_id: int,
    max_len: int = 50,
) -> dict[int, float]:
    """:func:`exact_matches`, averaged over the pairs of each source length: ``lengths``
    ``(n,)`` gives each pair's length (or any integer group) → ``{length: exact match}`` in
    increasing order of length."""
    check_tensor("src", src, ndim=2, dims="(n, seq_s)")
    lengths = torch.as_tensor(lengths)
    check_shape("lengths", lengths, (src.shape[0],), dims=f"({src.shape[0]},), one per source")
    correct = exact_matches(model, src, tgt, bos_id=bos_id, eos_id=eos_id, max_len=max_len)
    return {n: correct[lengths == n].float().mean().item() for n in lengths.unique().tolist()}
