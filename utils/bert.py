"""BERT (Devlin et al., 2019): an encoder-only transformer, pretrained by filling in masked words.

"BERT's model architecture is a multi-layer bidirectional Transformer encoder based on the
original implementation described in Vaswani et al. (2017)." The pieces are the ones of
chapters 03-05 (learned positions included) with three changes to chapter 05's encoder: a
token-type (segment) embedding, GELU in the feed-forward network, and LayerNorm with ε = 1e-12.
Chapter 06 builds it.

* :func:`mask_tokens`: the masked-language-model rule: pick 15 % of the tokens; of those, 80 %
  become ``[MASK]``, 10 % a random token, 10 % stay as they are.
* :class:`BertEmbeddings`: word + position + token-type embeddings, LayerNorm, dropout.
* :class:`BertEncoder`: the embeddings, ``num_layers`` post-LN
  :class:`utils.transformer.EncoderLayer` s with GELU, and BERT's pooler (``[CLS]`` → dense →
  tanh). :meth:`BertEncoder.from_huggingface` copies any ``transformers`` ``BertModel``;
  :meth:`BertEncoder.to_huggingface` gives one back.
* :class:`BertForMLM` (encoder + masked-LM head, ``BertForMaskedLM``) and
  :class:`BertClassifier` (encoder + pooler + linear layer, ``BertForSequenceClassification``),
  each with ``to_huggingface`` so that ``save_pretrained`` and ``pipeline`` can use them.
* :func:`weight_names`: the table from our parameter names to Hugging Face's.
* :func:`embed`: unit-length sentence vectors (mean pooling or ``[CLS]``) from our encoder.
* :func:`best_span`: how an extractive question-answering head's output is read.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

from .positional import LearnedPositionalEmbedding, _check_positive_int
from .transformer import ACTIVATIONS, EncoderLayer

#: Hugging Face's ``hidden_act`` names → ours (:data:`utils.transformer.ACTIVATIONS`).
HF_ACTIVATIONS = {
    "gelu": "gelu",
    "relu": "relu",
    "gelu_new": "gelu_tanh",
    "gelu_pytorch_tanh": "gelu_tanh",
}
_TO_HF_ACTIVATION = {"gelu": "gelu", "relu": "relu", "gelu_tanh": "gelu_pytorch_tanh"}

#: The label of a position where no prediction is asked (PyTorch's ``cross_entropy`` default
#: ``ignore_index``, and Hugging Face's convention).
IGNORE_INDEX = -100


# ----------------------------------------------------------------------------- masking
def mask_tokens(
    input_ids: torch.Tensor,
    *,
    mask_token_id: int,
    vocab_size: int,
    special_token_ids: Iterable[int] = (),
    mlm_probability: float = 0.15,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT's masking rule, on int64 token ids of any shape.

    Each token that is not special is selected with probability ``mlm_probability``. A selected
    token becomes ``mask_token_id`` with probability 0.8, a token drawn uniformly from
    ``[0, vocab_size)`` with probability 0.1, and stays unchanged with probability 0.1. Special
    tokens (``[CLS]``, ``[SEP]``, padding: whatever ``special_token_ids`` lists) are never
    selected.

    Returns ``(inputs, labels)``, both shaped like ``input_ids``: ``inputs`` is what the model
    reads; ``labels`` holds the original id where a prediction is asked and
    :data:`IGNORE_INDEX` (-100) everywhere else. ``input_ids`` is not modified.

    The random draws are made in the order of Hugging Face's
    ``DataCollatorForLanguageModeling`` (selection, ``[MASK]``, random, random ids), so the
    same ``generator`` state gives the same result as that collator.
    """
    if not isinstance(input_ids, torch.Tensor) or input_ids.dtype != torch.int64:
        raise ValueError(
            "input_ids must be an int64 tensor of token ids, got "
            f"{getattr(input_ids, 'dtype', type(input_ids).__name__)}"
        )
    _check_positive_int("vocab_size", vocab_size)
    if isinstance(mlm_probability, bool) or not isinstance(mlm_probability, float | int):
        raise ValueError(f"mlm_probability must be a number in (0, 1), got {mlm_probability!r}")
    if not 0.0 < mlm_probability < 1.0:
        raise ValueError(f"mlm_probability must be in (0, 1), got {mlm_probability}")
    if isinstance(mask_token_id, bool) or not isinstance(mask_token_id, int):
        raise ValueError(f"mask_token_id must be an int, got {mask_token_id!r}")
    if not 0 <= mask_token_id < vocab_size:
        raise ValueError(
            f"mask_token_id {mask_token_id} is outside the vocabulary [0, {vocab_size})"
        )
    if input_ids.numel() and not 0 <= input_ids.min() <= input_ids.max() < vocab_size:
        raise ValueError(
            f"input_ids must lie in [0, vocab_size={vocab_size}), got ids from "
            f"{input_ids.min().item()} to {input_ids.max().item()}"
        )
    device = input_ids.device
    special = torch.tensor(sorted(set(special_token_ids)), dtype=torch.int64, device=device)
    labels = input_ids.clone()
    inputs = input_ids.clone()
    # 1. select 15 % of the tokens that are not special
    probability = torch.full(input_ids.shape, float(mlm_probability), device=device)
    probability.masked_fill_(torch.isin(input_ids, special), 0.0)
    selected = torch.bernoulli(probability, generator=generator).bool()
    labels[~selected] = IGNORE_INDEX  # the loss looks at the selected positions only
    # 2. 80 % of the selected ones become [MASK]
    to_mask = torch.bernoulli(torch.full(input_ids.shape, 0.8, device=device), generator=generator)
    to_mask = to_mask.bool()
    to_mask &= selected
    inputs[to_mask] = mask_token_id
    # 3. half of the other 20 % (10 % of the selected) become a random token
    to_random = torch.bernoulli(
        torch.full(input_ids.shape, 0.5, device=device), generator=generator
    ).bool()
    to_random &= selected & ~to_mask
    random_ids = torch.randint(vocab_size, input_ids.shape, generator=generator, device=device)
    inputs[to_random] = random_ids[to_random]
    # 4. the last 10 % of the selected ones keep their own token
    return inputs, labels


# ------------------------------------------------------------------------------ the model
class BertEmbeddings(nn.Module):
    """``LayerNorm(word[ids] + token_type[types] + position[0..seq-1])``, then dropout.

    ids, types ``(batch, seq)`` → ``(batch, seq, d_model)``. The position table is
    :class:`utils.positional.LearnedPositionalEmbedding` (``max_len`` rows, 512 in BERT).
    """

    def __init__(
        self,
        vocab_size: int,
        d_model: int,
        max_len: int = 512,
        type_vocab_size: int = 2,
        layer_norm_eps: float = 1e-12,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        _check_positive_int("vocab_size", vocab_size)
        _check_positive_int("type_vocab_size", type_vocab_size)
        self.tokens = nn.Embedding(vocab_size, d_model)
        self.positions = LearnedPositionalEmbedding(d_model, max_len)
        self.token_types = nn.Embedding(type_vocab_size, d_model)
        self.norm = nn.LayerNorm(d_model, eps=layer_norm_eps)
        self.dropout = nn.Dropout(dropout)
        for table in (self.tokens, self.token_types):
            nn.init.normal_(table.weight, std=0.02)  # BERT's initializer_range

    def forward(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor) -> torch.Tensor:
        x = self.tokens(input_ids) + self.token_types(token_type_ids)
        return self.dropout(self.norm(self.positions(x)))  # positions(x) = x + P[:seq]


class BertEncoder(nn.Module):
    """BERT's encoder: :class:`BertEmbeddings`, then ``num_layers`` post-LN encoder layers
    (:class:`utils.transformer.EncoderLayer` with GELU and LayerNorm ε = 1e-12), and the
    pooler BERT uses for sentence-level tasks.

    ``forward(input_ids, attention_mask=None, token_type_ids=None)`` → the last hidden state
    ``(batch, seq, d_model)``. ``input_ids``: int64 ``(batch, seq)``; ``attention_mask``:
    ``(batch, seq)``, 1 (or True) for real tokens and 0 for padding, as a tokenizer returns it;
    ``token_type_ids``: ``(batch, seq)``, 0 for the first segment and 1 for the second. Attention
    is bidirectional: every token sees every real token, before and after it.

    ``pool(hidden)`` → ``(batch, d_model)``: ``tanh(W h_[CLS] + b)`` (needs ``pooler=True``).

    Sizes of BERT-base: ``d_model=768, num_layers=12, num_heads=12, d_ff=3072``; of
    all-MiniLM-L6-v2: ``384, 6, 12, 1536``. :meth:`from_huggingface` copies any ``BertModel``.
    """

    def __init__(
        self,
        vocab_size: int,
        d_model: int = 256,
        num_layers: int = 4,
        num_heads: int = 4,
        d_ff: int = 1024,
        max_len: int = 512,
        type_vocab_size: int = 2,
        dropout: float = 0.1,
        activation: str = "gelu",
        layer_norm_eps: float = 1e-12,
        pad_id: int = 0,
        pooler: bool = True,
    ) -> None:
        super().__init__()
        _check_positive_int("num_layers", num_layers)
        self.config = {
            "vocab_size": vocab_size,
            "d_model": d_model,
            "num_layers": num_layers,
            "num_heads": num_heads,
            "d_ff": d_ff,
            "max_len": max_len,
            "type_vocab_size": type_vocab_size,
            "dropout": dropout,
            "activation": activation,
            "layer_norm_eps": layer_norm_eps,
            "pad_id": pad_id,
            "pooler": pooler,
        }
        self.embeddings = BertEmbeddings(
            vocab_size, d_model, max_len, type_vocab_size, layer_norm_eps, dropout
        )
        self.layers = nn.ModuleList(
            EncoderLayer(
                d_model,
                num_heads,
                d_ff,
                dropout,
                norm_first=False,  # BERT keeps the paper's post-LN
                activation=activation,
                layer_norm_eps=layer_norm_eps,
            )
            for _ in range(num_layers)
        )
        self.pooler = nn.Sequential(nn.Linear(d_model, d_model), nn.Tanh()) if pooler else None
        self.apply(_init_bert_weights)

    # -- inputs
    def _check_inputs(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None,
        token_type_ids: torch.Tensor | None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        c = self.config
        if not isinstance(input_ids, torch.Tensor) or input_ids.dim() != 2:
            raise ValueError(
                f"input_ids must be (batch, seq), got {getattr(input_ids, 'shape', input_ids)}"
            )
        if input_ids.dtype != torch.int64:
            raise ValueError(f"input_ids must be int64 token ids, got {input_ids.dtype}")
        if input_ids.numel() and not 0 <= input_ids.min() <= input_ids.max() < c["vocab_size"]:
            raise ValueError(
                f"input_ids must lie in [0, vocab_size={c['vocab_size']}), got ids from "
                f"{input_ids.min().item()} to {input_ids.max().item()}"
            )
        if input_ids.shape[1] > c["max_len"]:
            raise ValueError(
                f"the sequence has {input_ids.shape[1]} tokens; this model has positions for "
                f"max_len={c['max_len']} at most (truncate the input)"
            )
        for name, t in (("attention_mask", attention_mask), ("token_type_ids", token_type_ids)):
            if t is not None and (not isinstance(t, torch.Tensor) or t.shape != input_ids.shape):
                raise ValueError(
                    f"{name} must have the shape of input_ids {tuple(input_ids.shape)}, got "
                    f"{tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__}"
                )
        if token_type_ids is not None and token_type_ids.is_floating_point():
            raise ValueError(f"token_type_ids must be integers, got {token_type_ids.dtype}")
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        elif token_type_ids.numel() and not (
            0 <= token_type_ids.min() <= token_type_ids.max() < c["type_vocab_size"]
        ):
            raise ValueError(
                f"token_type_ids must lie in [0, type_vocab_size={c['type_vocab_size']})"
            )
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        # bool (batch, 1, seq_k): which keys every query may attend to (utils.attention)
        return attention_mask.bool().unsqueeze(1), token_type_ids.long()

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        mask, token_type_ids = self._check_inputs(input_ids, attention_mask, token_type_ids)
        x = self.embeddings(input_ids, token_type_ids)  # (batch, seq, d_model)
        for layer in self.layers:
            x = layer(x, mask)  # no causal mask: bidirectional
        return x

    def pool(self, hidden: torch.Tensor) -> torch.Tensor:
        """BERT's pooler, ``tanh(W h_[CLS] + b)``: ``(batch, seq, d_model)`` →
        ``(batch, d_model)``."""
        if self.pooler is None:
            raise ValueError("this encoder has no pooler (it was built with pooler=False)")
        return self.pooler(hidden[:, 0])

    # -- Hugging Face
    @classmethod
    def from_huggingface(cls, model: Any) -> BertEncoder:
        """A copy of a ``transformers`` ``BertModel`` (any size), weights and all.

        Raises ``TypeError`` for another kind of model and ``ValueError`` for a configuration
        this encoder does not implement (a decoder, cross-attention, an unknown activation).
        Our layers use one dropout rate for attention weights and hidden states, the config's
        ``hidden_dropout_prob`` (BERT's configurations set both to 0.1); dropout only acts in
        training, so the outputs in eval mode are the same either way.
        """
        from transformers import BertModel

        if not isinstance(model, BertModel):
            hint = (
                " (for a model with a task head, pass its encoder: model.bert)"
                if hasattr(model, "bert")
                else ""
            )
            raise TypeError(f"expected a transformers BertModel, got {type(model).__name__}{hint}")
        cfg = model.config
        if cfg.is_decoder or getattr(cfg, "add_cross_attention", False):
            raise ValueError(
                "only encoder BertModels are supported (is_decoder=False, no cross-attention)"
            )
        if not isinstance(cfg.hidden_act, str) or cfg.hidden_act not in HF_ACTIVATIONS:
            raise ValueError(
                f"hidden_act {cfg.hidden_act!r} is not supported; "
                f"supported: {sorted(HF_ACTIVATIONS)}"
            )
        if cfg.hidden_size % cfg.num_attention_heads:
            raise ValueError(
                f"hidden_size {cfg.hidden_size} is not divisible by num_attention_heads "
                f"{cfg.num_attention_heads}"
            )
        weight = model.embeddings.word_embeddings.weight
        ours = cls(
            vocab_size=cfg.vocab_size,
            d_model=cfg.hidden_size,
            num_layers=cfg.num_hidden_layers,
            num_heads=cfg.num_attention_heads,
            d_ff=cfg.intermediate_size,
            max_len=cfg.max_position_embeddings,
            type_vocab_size=cfg.type_vocab_size,
            dropout=cfg.hidden_dropout_prob,
            activation=HF_ACTIVATIONS[cfg.hidden_act],
            layer_norm_eps=cfg.layer_norm_eps,
            pad_id=cfg.pad_token_id if cfg.pad_token_id is not None else 0,
            pooler=model.pooler is not None,
        )
        ours.to(device=weight.device, dtype=weight.dtype)  # first, so the copy loses nothing
        theirs = model.state_dict()
        ours.load_state_dict({o: theirs[h] for o, h in weight_names(ours).items()})
        return ours.train(model.training)

    def huggingface_config(self, **extra: Any) -> Any:
        """The ``transformers.BertConfig`` of this encoder's sizes (``extra`` is passed on)."""
        from transformers import BertConfig

        c = self.config
        return BertConfig(
            vocab_size=c["vocab_size"],
            hidden_size=c["d_model"],
            num_hidden_layers=c["num_layers"],
            num_attention_heads=c["num_heads"],
            intermediate_size=c["d_ff"],
            max_position_embeddings=c["max_len"],
            type_vocab_size=c["type_vocab_size"],
            hidden_dropout_prob=c["dropout"],
            attention_probs_dropout_prob=c["dropout"],
            hidden_act=_TO_HF_ACTIVATION[c["activation"]],
            layer_norm_eps=c["layer_norm_eps"],
            pad_token_id=c["pad_id"],
            **extra,
        )

    def to_huggingface(self) -> Any:
        """A ``transformers`` ``BertModel`` with this encoder's weights, in eval mode."""
        from transformers import BertModel

        model = BertModel(self.huggingface_config(), add_pooling_layer=self.pooler is not None)
        _copy_into(model, self, prefix="")
        return model.eval()


def _init_bert_weights(module: nn.Module) -> None:
    """BERT's initialisation: normal(0, 0.02) weights, zero biases, LayerNorm 1 and 0."""
    if isinstance(module, nn.Linear):
        nn.init.normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.Embedding):
        nn.init.normal_(module.weight, std=0.02)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


#: One encoder layer: our sub-module → the sub-module of Hugging Face's ``BertLayer``.
LAYER_NAMES = {
    "self_attn.q_proj": "attention.self.query",
    "self_attn.k_proj": "attention.self.key",
    "self_attn.v_proj": "attention.self.value",
    "self_attn.out_proj": "attention.output.dense",
    "norm1": "attention.output.LayerNorm",
    "ff.linear1": "intermediate.dense",
    "ff.linear2": "output.dense",
    "norm2": "output.LayerNorm",
}

#: The embeddings and the pooler: ours → Hugging Face's ``BertModel``.
OTHER_NAMES = {
    "embeddings.tokens.weight": "embeddings.word_embeddings.weight",
    "embeddings.positions.embedding.weight": "embeddings.position_embeddings.weight",
    "embeddings.token_types.weight": "embeddings.token_type_embeddings.weight",
    "embeddings.norm.weight": "embeddings.LayerNorm.weight",
    "embeddings.norm.bias": "embeddings.LayerNorm.bias",
    "pooler.0.weight": "pooler.dense.weight",
    "pooler.0.bias": "pooler.dense.bias",
}


def weight_names(encoder: BertEncoder) -> dict[str, str]:
    """Every parameter of ``encoder``: our name → the name in a Hugging Face ``BertModel``.

    ``layers.0.self_attn.q_proj.weight`` → ``encoder.layer.0.attention.self.query.weight``, and
    so on; the pooler's two entries only when the encoder has one.
    """
    names = {
        ours: theirs
        for ours, theirs in OTHER_NAMES.items()
        if encoder.pooler is not None or not ours.startswith("pooler")
    }
    for i in range(len(encoder.layers)):
        for ours, theirs in LAYER_NAMES.items():
            for p in ("weight", "bias"):
                names[f"layers.{i}.{ours}.{p}"] = f"encoder.layer.{i}.{theirs}.{p}"
    return names


def _copy_into(hf_model: nn.Module, encoder: BertEncoder, prefix: str) -> None:
    """Copy ``encoder``'s weights into ``hf_model`` (whose BertModel sits under ``prefix``)."""
    target = hf_model.state_dict()
    names = weight_names(encoder)
    with torch.no_grad():
        for ours, tensor in encoder.state_dict().items():
            target[prefix + names[ours]].copy_(tensor)


# ------------------------------------------------------------------------------ the heads
class BertForMLM(nn.Module):
    """The encoder plus BERT's masked-language-model head.

    ``logits = LayerNorm(gelu(h W + b)) Eᵀ + bias``: a dense layer, the activation and a
    LayerNorm, then the **word embedding matrix** ``E`` itself (tied) as the output layer, with
    its own bias per vocabulary entry. ``forward(input_ids, attention_mask=None,
    token_type_ids=None)`` → logits ``(batch, seq, vocab_size)``.
    ``to_huggingface()`` gives the same model as ``transformers.BertForMaskedLM``.
    """

    def __init__(self, encoder: BertEncoder) -> None:
        super().__init__()
        if not isinstance(encoder, BertEncoder):
            raise TypeError(f"expected a BertEncoder, got {type(encoder).__name__}")
        c = encoder.config
        self.encoder = encoder
        self.transform = nn.Linear(c["d_model"], c["d_model"])
        self.norm = nn.LayerNorm(c["d_model"], eps=c["layer_norm_eps"])
        self.bias = nn.Parameter(torch.zeros(c["vocab_size"]))
        _init_bert_weights(self.transform)

    def head(self, hidden: torch.Tensor) -> torch.Tensor:
        """``(..., d_model)`` → logits ``(..., vocab_size)``."""
        h = self.norm(ACTIVATIONS[self.encoder.config["activation"]](self.transform(hidden)))
        return h @ self.encoder.embeddings.tokens.weight.T + self.bias

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        return self.head(self.encoder(input_ids, attention_mask, token_type_ids))

    def to_huggingface(self) -> Any:
        """A ``transformers.BertForMaskedLM`` with these weights, in eval mode."""
        from transformers import BertForMaskedLM

        if self.encoder.pooler is not None:
            raise ValueError("BertForMaskedLM has no pooler: build the encoder with pooler=False")
        config = self.encoder.huggingface_config(architectures=["BertForMaskedLM"])
        model = BertForMaskedLM(config)
        _copy_into(model, self.encoder, prefix="bert.")
        head = model.cls.predictions
        with torch.no_grad():
            head.transform.dense.weight.copy_(self.transform.weight)
            head.transform.dense.bias.copy_(self.transform.bias)
            head.transform.LayerNorm.weight.copy_(self.norm.weight)
            head.transform.LayerNorm.bias.copy_(self.norm.bias)
            head.bias.copy_(self.bias)
            head.decoder.weight.copy_(self.encoder.embeddings.tokens.weight)  # tied
            head.decoder.bias.copy_(self.bias)
        return model.eval()


class BertClassifier(nn.Module):
    """The encoder plus a sentence classifier, as ``BertForSequenceClassification``:
    ``logits = W · dropout(pool(h)) + b``, where ``pool`` is BERT's pooler on ``[CLS]``.

    ``forward(input_ids, attention_mask=None, token_type_ids=None)`` → ``(batch, num_labels)``.
    """

    def __init__(
        self, encoder: BertEncoder, num_labels: int, labels: list[str] | None = None
    ) -> None:
        super().__init__()
        if not isinstance(encoder, BertEncoder):
            raise TypeError(f"expected a BertEncoder, got {type(encoder).__name__}")
        if encoder.pooler is None:
            raise ValueError(
                "the classifier reads BERT's pooler: build the encoder with pooler=True"
            )
        _check_positive_int("num_labels", num_labels)
        if labels is not None and len(labels) != num_labels:
            raise ValueError(f"labels has {len(labels)} names for num_labels={num_labels}")
        self.encoder = encoder
        self.labels = list(labels) if labels else [f"LABEL_{i}" for i in range(num_labels)]
        self.dropout = nn.Dropout(encoder.config["dropout"])
        self.classifier = nn.Linear(encoder.config["d_model"], num_labels)
        _init_bert_weights(self.classifier)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        hidden = self.encoder(input_ids, attention_mask, token_type_ids)
        return self.classifier(self.dropout(self.encoder.pool(hidden)))

    def to_huggingface(self) -> Any:
        """A ``transformers.BertForSequenceClassification`` with these weights and label
        names, in eval mode."""
        from transformers import BertForSequenceClassification

        config = self.encoder.huggingface_config(
            architectures=["BertForSequenceClassification"],
            id2label=dict(enumerate(self.labels)),
            label2id={name: i for i, name in enumerate(self.labels)},
        )
        model = BertForSequenceClassification(config)
        _copy_into(model, self.encoder, prefix="bert.")
        with torch.no_grad():
            model.classifier.weight.copy_(self.classifier.weight)
            model.classifier.bias.copy_(self.classifier.bias)
        return model.eval()


# --------------------------------------------------------------------- sentence vectors
@torch.no_grad()
def embed(
    encoder: BertEncoder,
    tokenizer: Any,
    texts: list[str],
    *,
    pooling: str = "mean",
    max_length: int = 128,
    batch_size: int = 32,
    desc: str | None = None,
) -> torch.Tensor:
    """Unit-length sentence vectors ``(len(texts), d_model)`` from our encoder.

    ``pooling="mean"`` averages the real tokens' last hidden states (how all-MiniLM-L6-v2 was
    trained; equal to :func:`utils.pretrained.embed_sentences` with the same ``max_length``,
    which is 256 there), ``"cls"`` reads BERT's pooler on ``[CLS]``. Texts are truncated at
    ``max_length`` tokens. ``desc`` shows a progress bar.
    """
    from .env import progress
    from .pretrained import mean_pool

    if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
        raise TypeError("texts must be a list of strings (wrap a single one: [text])")
    if pooling not in ("mean", "cls"):
        raise ValueError(f"pooling must be 'mean' or 'cls', got {pooling!r}")
    _check_positive_int("batch_size", batch_size)
    was_training = encoder.training
    encoder.eval()
    # batches of texts of similar length waste less on padding; the output keeps the input order
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    out = []
    starts = range(0, len(texts), batch_size)
    for i in progress(starts, desc=desc) if desc else starts:
        batch = tokenizer(
            [texts[j] for j in order[i : i + batch_size]],
            padding=True,
            truncation=True,
            max_length=max_length,
            return_tensors="pt",
        )
        hidden = encoder(batch["input_ids"], batch["attention_mask"])  # (b, seq, d)
        if pooling == "mean":
            pooled = mean_pool(hidden, batch["attention_mask"])
        else:
            pooled = encoder.pool(hidden)
        out.append(nn.functional.normalize(pooled, dim=-1))
    encoder.train(was_training)
    if not out:
        return torch.zeros(0, encoder.config["d_model"])
    vectors = torch.cat(out)
    return vectors[torch.tensor(order).argsort()]  # back to the order of texts


# -------------------------------------------------------------------- question answering
def best_span(
    start_logits: torch.Tensor,
    end_logits: torch.Tensor,
    allowed: torch.Tensor | None = None,
    max_length: int = 30,
) -> tuple[int, int, float]:
    """Read an extractive-QA head's answer: the span ``(start, end)``, ``start ≤ end <
    start + max_length``, with the largest ``start_logits[start] + end_logits[end]``.

    ``start_logits``, ``end_logits``: ``(seq,)`` for one question; ``allowed``: bool ``(seq,)``,
    ``True`` where an answer may start or end (the context's tokens, not the question or
    ``[CLS]``/``[SEP]``). Returns ``(start, end, score)`` with ``end`` inclusive.
    """
    if start_logits.dim() != 1 or start_logits.shape != end_logits.shape:
        raise ValueError(
            "start_logits and end_logits must both be (seq,), got "
            f"{tuple(start_logits.shape)} and {tuple(end_logits.shape)}"
        )
    _check_positive_int("max_length", max_length)
    n = start_logits.shape[0]
    scores = start_logits[:, None] + end_logits[None, :]  # (start, end)
    ok = torch.ones(n, n, dtype=torch.bool).triu() & ~torch.ones(n, n, dtype=torch.bool).triu(
        max_length
    )
    if allowed is not None:
        if allowed.shape != (n,) or allowed.dtype != torch.bool:
            raise ValueError(f"allowed must be a bool tensor of shape ({n},)")
        ok &= allowed[:, None] & allowed[None, :]
    if not ok.any():
        raise ValueError("no span is allowed (is allowed all False?)")
    scores = scores.masked_fill(~ok, float("-inf"))
    best = int(scores.argmax())
    start, end = divmod(best, n)
    return start, end, float(scores[start, end])
