"""Retrieval-augmented generation (RAG) without a framework: documents, chunks, retrieval,
a prompt with numbered sources, generation, and the cited source read back (chapter 09.4).

* :func:`make_towns` writes a set of short articles about *fictional* towns, with questions,
  gold answers and the gold article, from a seed. Nothing in them is on the internet, so a
  language model cannot know the answers: what it gets right, it read in the passages.
* :func:`chunk_sentences`, :func:`chunk_documents`: cut texts into overlapping runs of
  sentences, each chunk remembering the document it came from.
* :func:`top_k`, :func:`relevant_ranks`: the best ``k`` chunks for each query from a score
  matrix (cosine similarities of unit vectors, or BM25 scores from :mod:`utils.retrieval`), and
  where the first relevant chunk lands.
* :func:`build_prompt`, :func:`parse_citations`, :func:`is_correct`: the prompt with numbered
  sources, the ``[n]`` citations in an answer, and a lenient answer check. (The answers come from
  :func:`utils.pretrained.chat_batch`, batched greedy chat generation with left padding.)

The name comes from Lewis et al. (2020), "Retrieval-Augmented Generation for Knowledge-Intensive
NLP Tasks", who fine-tuned the question encoder and a BART generator together; here the
retriever and the generator are both frozen, the way most RAG systems run today.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from typing import NamedTuple

import torch

from .data import split_sentences
from .retrieval import ranks


class Document(NamedTuple):
    """One article: its index in the collection, a title, and the text."""

    doc_id: int
    title: str
    text: str


class Question(NamedTuple):
    """A question about one document: the gold ``answer`` (a short string) is in that
    document's text, and ``kind`` says which fact it asks for."""

    text: str
    answer: str
    doc_id: int
    kind: str


class Chunk(NamedTuple):
    """A piece of a document: the document's id and the chunk's text."""

    doc_id: int
    text: str


# --- a seeded set of fictional towns -------------------------------------------------------

_ONSETS = [
    "B",
    "Br",
    "C",
    "Cl",
    "D",
    "Dr",
    "F",
    "G",
    "Gr",
    "H",
    "K",
    "L",
    "M",
    "N",
    "P",
    "Pr",
    "R",
    "S",
    "St",
    "T",
    "Tr",
    "V",
    "W",
    "Z",
]
_VOWELS = ["a", "e", "i", "o", "u", "ai", "ea", "ou"]
_CODAS = ["", "l", "n", "r", "s", "m", "nd", "rn", "st", "th"]
_ENDINGS = ["ford", "wick", "mere", "holm", "by", "dale", "stead", "bury", "haven", "ton"]
_FIRST = [
    "Ada",
    "Bram",
    "Cora",
    "Dorian",
    "Elsa",
    "Fenn",
    "Greta",
    "Hugo",
    "Ilse",
    "Jonas",
    "Katrin",
    "Leo",
    "Mira",
    "Nils",
    "Olga",
    "Piet",
    "Rosa",
    "Sven",
    "Tilda",
    "Ulric",
    "Vera",
    "Willem",
    "Yara",
    "Zeno",
]
_PRODUCTS = [
    "glass lanterns",
    "blue cheese",
    "copper bells",
    "wool blankets",
    "apple cider",
    "paper kites",
    "clay pipes",
    "silver buttons",
    "rye bread",
    "wooden clocks",
    "lavender soap",
    "leather boots",
    "honey cakes",
    "linen shirts",
    "iron nails",
    "smoked trout",
    "cherry jam",
    "felt hats",
    "stone bridges",
    "violin strings",
]
_FILLER = [
    "{t} holds a market on the main square every Saturday.",
    "Visitors often remark on the narrow streets of the old town.",
    "Winters in {t} are long, and the summers are short and mild.",
    "The town hall of {t} was rebuilt after a fire.",
    "A small museum in {t} tells the story of the region.",
    "Most of the houses in the centre are built of grey stone.",
]
_QUESTIONS = {
    "year": "In what year was {t} founded?",
    "founder": "Who founded the town of {t}?",
    "river": "On which river does {t} lie?",
    "product": "What is {t} best known for making?",
}
KINDS = tuple(_QUESTIONS)


def _name(rng: random.Random, ending: bool) -> str:
    core = rng.choice(_ONSETS) + rng.choice(_VOWELS) + rng.choice(_CODAS)
    return core + (rng.choice(_ENDINGS) if ending else rng.choice(["a", "e", "o", "en", "is"]))


def make_towns(n: int = 40, seed: int = 0) -> tuple[list[Document], list[Question]]:
    """``n`` short articles about fictional towns and one question per town.

    Each article states the town's river, founding year, founder, population, best-known
    product and two filler sentences, in shuffled order. The four fact sentences name the town
    (so that a chunk holding a fact still says which town it is about). Questions cycle
    through :data:`KINDS`; the gold answer is a string that occurs in the article. Same
    ``seed``, same towns.

    Returns ``(documents, questions)``, ``documents[i].doc_id == i``.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int, got {seed!r}")
    rng = random.Random(seed)
    towns: set[str] = set()
    rivers = sorted({_name(rng, ending=False) for _ in range(40)})  # shared between towns
    documents, questions = [], []
    for i in range(n):
        town = _name(rng, ending=True)
        while town in towns:
            town = _name(rng, ending=True)
        towns.add(town)
        facts = {
            "river": rng.choice(rivers),
            "year": str(rng.randint(1150, 1890)),
            "founder": f"{rng.choice(_FIRST)} {_name(rng, ending=True)}",
            "product": rng.choice(_PRODUCTS),
        }
        population = f"{rng.randint(2, 95) * 1000 + rng.randint(0, 9) * 100:,}"
        sentences = [
            f"{town} is a town on the {facts['river']} River.",
            f"{town} was founded in {facts['year']} by {facts['founder']}.",
            f"About {population} people live in {town} today.",
            f"{town} is best known for its {facts['product']}.",
            *(f.format(t=town) for f in rng.sample(_FILLER, 2)),
        ]
        rng.shuffle(sentences)
        documents.append(Document(i, town, " ".join(sentences)))
        kind = KINDS[i % len(KINDS)]
        questions.append(Question(_QUESTIONS[kind].format(t=town), facts[kind], i, kind))
    return documents, questions


# --- chunking ------------------------------------------------------------------------------


def chunk_sentences(text: str, size: int = 2, overlap: int = 1) -> list[str]:
    """Cut ``text`` into runs of ``size`` sentences, consecutive runs sharing ``overlap``.

    The runs start every ``size - overlap`` sentences; the last run ends at the last sentence
    (it may be shorter). A text of at most ``size`` sentences is one chunk; an empty text none.
    Sentences are split with :func:`utils.data.split_sentences`.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    for name, value in (("size", size), ("overlap", overlap)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{name} must be an int, got {value!r}")
    if size < 1 or not 0 <= overlap < size:
        raise ValueError(
            f"need size >= 1 and 0 <= overlap < size, got size={size}, overlap={overlap}"
        )
    sentences = split_sentences(text)
    step = size - overlap
    chunks = []
    for start in range(0, len(sentences), step):
        chunks.append(" ".join(sentences[start : start + size]))
        if start + size >= len(sentences):
            break
    return chunks


def chunk_documents(documents: Sequence[Document], size: int = 2, overlap: int = 1) -> list[Chunk]:
    """Every document's chunks (:func:`chunk_sentences`), in order, each with its ``doc_id``."""
    if isinstance(documents, (str, Document)) or not all(
        isinstance(d, Document) for d in documents
    ):
        raise TypeError("documents must be a list of utils.rag.Document")
    return [
        Chunk(d.doc_id, text) for d in documents for text in chunk_sentences(d.text, size, overlap)
    ]


# --- retrieval -----------------------------------------------------------------------------


def top_k(scores: torch.Tensor, k: int) -> torch.Tensor:
    """The indices of the ``k`` highest-scoring chunks of each query, best first.

    ``scores``: ``(queries, chunks)`` (cosine similarities, BM25 scores, ...) → int64
    ``(queries, k)``. Ties go to the lower index.
    """
    if not isinstance(scores, torch.Tensor) or scores.dim() != 2:
        raise ValueError(
            f"scores must be (queries, chunks), got {getattr(scores, 'shape', type(scores))}"
        )
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= scores.shape[1]:
        raise ValueError(f"k must be an int in [1, {scores.shape[1]}], got {k!r}")
    # a stable sort: equal scores keep their order, so the result does not depend on the CPU
    return scores.argsort(dim=1, descending=True, stable=True)[:, :k]


def relevant_ranks(scores: torch.Tensor, relevant: torch.Tensor) -> torch.Tensor:
    """The rank (1 = best) of the best-scoring relevant chunk of each query.

    ``scores``: ``(queries, chunks)``; ``relevant``: bool ``(queries, chunks)``, at least one
    True per row. The other relevant chunks are set aside, then :func:`utils.retrieval.ranks`
    counts ties against the relevant one. recall@k is ``(ranks <= k).float().mean()``.
    Returns int64 ``(queries,)``.
    """
    if not isinstance(scores, torch.Tensor) or scores.dim() != 2:
        raise ValueError(
            f"scores must be (queries, chunks), got {getattr(scores, 'shape', type(scores))}"
        )
    if (
        not isinstance(relevant, torch.Tensor)
        or relevant.dtype != torch.bool
        or relevant.shape != scores.shape
    ):
        raise ValueError(
            f"relevant must be a bool tensor of shape {tuple(scores.shape)}, got "
            f"{getattr(relevant, 'dtype', type(relevant))} {getattr(relevant, 'shape', '')}"
        )
    if not relevant.any(1).all():
        raise ValueError("every query needs at least one relevant chunk")
    scores = scores.double()
    best = scores.masked_fill(~relevant, float("-inf")).argmax(1)  # (queries,)
    keep = ~relevant
    keep[torch.arange(len(best)), best] = True
    return ranks(scores.masked_fill(~keep, float("-inf")), best)


# --- the prompt, generation, and reading the answer ----------------------------------------

INSTRUCTION = (
    "Answer the question using the sources below. Answer in a few words and cite the "
    "source you used as [n]."
)


def build_prompt(question: str, passages: Sequence[str] = ()) -> str:
    """The user message: the instruction, the passages numbered ``[1]``, ``[2]``, ..., and the
    question. With no passages, just the question (the closed-book baseline)."""
    if not isinstance(question, str) or not question.strip():
        raise ValueError("question must be a non-empty string")
    if isinstance(passages, str) or not all(isinstance(p, str) for p in passages):
        raise TypeError("passages must be a list of strings (wrap a single one: [passage])")
    if not passages:
        return f"Answer in a few words. Question: {question}"
    sources = "\n".join(f"[{n}] {p}" for n, p in enumerate(passages, start=1))
    return f"{INSTRUCTION}\n\nSources:\n{sources}\n\nQuestion: {question}"


_CITATION = re.compile(r"\[(\d+(?:\s*,\s*\d+)*)\]")


def parse_citations(answer: str) -> list[int]:
    """The source numbers cited in ``answer`` as ``[n]`` or ``[n, m]``, in order of first
    appearance, without repeats: ``"Paris [2][1], see [2]"`` → ``[2, 1]``."""
    if not isinstance(answer, str):
        raise TypeError(f"answer must be a str, got {type(answer).__name__}")
    cited: list[int] = []
    for group in _CITATION.findall(answer):
        for number in group.split(","):
            n = int(number)
            if n not in cited:
                cited.append(n)
    return cited


def _normalise(text: str) -> str:
    text = re.sub(r"(?<=\d),(?=\d)", "", text.lower())  # 12,400 → 12400
    return " ".join(re.findall(r"[a-z0-9]+", text))


def is_correct(answer: str, gold: str) -> bool:
    """Does ``answer`` contain the ``gold`` answer, ignoring case, punctuation and thousands
    separators (as whole words: gold "1523" does not match "15234")?"""
    if not isinstance(answer, str) or not isinstance(gold, str):
        raise TypeError("answer and gold must be strings")
    gold_words = _normalise(gold)
    if not gold_words:
        raise ValueError("gold answer has no letters or digits")
    return f" {gold_words} " in f" {_normalise(answer)} "
