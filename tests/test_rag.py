"""utils.rag: the fictional-town generator, chunking, top-k and ranks, the prompt, citations,
the answer check, and batched generation (against one prompt at a time)."""

import pytest
import torch

from utils import pretrained as P
from utils import rag
from utils import retrieval as R

# --- the document generator ----------------------------------------------------------------


def test_make_towns_is_deterministic_and_consistent():
    docs, questions = rag.make_towns(12, seed=3)
    again_docs, again_questions = rag.make_towns(12, seed=3)
    assert docs == again_docs and questions == again_questions
    other, _ = rag.make_towns(12, seed=4)
    assert other != docs
    assert [d.doc_id for d in docs] == list(range(12))
    assert len({d.title for d in docs}) == 12  # town names are unique
    assert [q.kind for q in questions[:4]] == list(rag.KINDS)
    for q in questions:
        assert q.doc_id < len(docs) and docs[q.doc_id].title in q.text
        assert rag.is_correct(docs[q.doc_id].text, q.answer)  # the answer is in its document
    for d in docs:
        assert len(rag.chunk_sentences(d.text, size=1, overlap=0)) == 6
    for q in questions:  # the sentence holding a fact names its town
        sentences = rag.chunk_sentences(docs[q.doc_id].text, size=1, overlap=0)
        assert all(docs[q.doc_id].title in s for s in sentences if rag.is_correct(s, q.answer))


def test_make_towns_bad_input():
    for n in (0, -1, 2.5, True):
        with pytest.raises(ValueError):
            rag.make_towns(n)
    with pytest.raises(TypeError):
        rag.make_towns(3, seed="0")


# --- chunking ------------------------------------------------------------------------------

SIX = "One a. Two b. Three c. Four d. Five e. Six f."


def test_chunk_sentences_sizes_and_overlap():
    assert rag.chunk_sentences(SIX, size=1, overlap=0) == [
        "One a.",
        "Two b.",
        "Three c.",
        "Four d.",
        "Five e.",
        "Six f.",
    ]
    assert rag.chunk_sentences(SIX, size=2, overlap=1) == [
        "One a. Two b.",
        "Two b. Three c.",
        "Three c. Four d.",
        "Four d. Five e.",
        "Five e. Six f.",
    ]
    # the last chunk may be shorter, and no chunk is a mere tail of the previous one
    assert rag.chunk_sentences(SIX, size=4, overlap=1) == [
        "One a. Two b. Three c. Four d.",
        "Four d. Five e. Six f.",
    ]
    assert rag.chunk_sentences(SIX, size=3, overlap=0) == [
        "One a. Two b. Three c.",
        "Four d. Five e. Six f.",
    ]


def test_chunk_sentences_edge_cases():
    assert rag.chunk_sentences("") == []
    assert rag.chunk_sentences("   ") == []
    assert rag.chunk_sentences("Just one sentence.") == ["Just one sentence."]
    assert rag.chunk_sentences(SIX, size=6, overlap=0) == [SIX]
    assert rag.chunk_sentences(SIX, size=10, overlap=3) == [SIX]  # longer than the text
    for size in range(1, 8):
        for overlap in range(size):
            chunks = rag.chunk_sentences(SIX, size, overlap)
            covered = " ".join(chunks)
            assert all(s in covered for s in rag.chunk_sentences(SIX, 1, 0))  # nothing lost


def test_chunk_sentences_bad_input():
    with pytest.raises(TypeError):
        rag.chunk_sentences(["a list"])
    with pytest.raises(TypeError):
        rag.chunk_sentences(SIX, size=2.0)
    for size, overlap in [(0, 0), (2, 2), (2, 3), (3, -1)]:
        with pytest.raises(ValueError, match="size"):
            rag.chunk_sentences(SIX, size, overlap)


def test_chunk_documents_keeps_the_document_id():
    docs = [rag.Document(0, "a", "A one. A two. A three."), rag.Document(7, "b", "B one.")]
    chunks = rag.chunk_documents(docs, size=2, overlap=1)
    assert chunks == [
        rag.Chunk(0, "A one. A two."),
        rag.Chunk(0, "A two. A three."),
        rag.Chunk(7, "B one."),
    ]
    with pytest.raises(TypeError):
        rag.chunk_documents(["plain text"])
    with pytest.raises(TypeError):
        rag.chunk_documents(docs[0])


# --- retrieval -----------------------------------------------------------------------------


def test_top_k_order_and_ties():
    scores = torch.tensor([[0.1, 0.9, 0.5, 0.9], [3.0, 2.0, 1.0, 0.0]])
    assert rag.top_k(scores, 3).tolist() == [[1, 3, 2], [0, 1, 2]]  # ties: lower index first
    assert rag.top_k(scores, 1).tolist() == [[1], [0]]
    for k in (0, 5, 1.0):
        with pytest.raises(ValueError):
            rag.top_k(scores, k)
    with pytest.raises(ValueError):
        rag.top_k(scores[0], 1)


def test_relevant_ranks():
    scores = torch.tensor([[0.9, 0.8, 0.7, 0.1], [0.2, 0.9, 0.5, 0.5]])
    relevant = torch.tensor([[False, True, True, False], [False, False, True, True]])
    # row 0: best relevant (0.8) has one irrelevant chunk above it; the other relevant one
    # does not count. Row 1: 0.9 is above both relevant chunks (tied with each other).
    assert rag.relevant_ranks(scores, relevant).tolist() == [2, 2]
    # ties with an irrelevant chunk count against the relevant one
    tie = torch.tensor([[0.5, 0.5, 0.1]])
    assert rag.relevant_ranks(tie, torch.tensor([[True, False, False]])).tolist() == [2]


def test_relevant_ranks_equals_ranks_with_one_relevant_chunk():
    scores = torch.randn(6, 9, generator=torch.Generator().manual_seed(0))
    targets = torch.tensor([0, 3, 8, 2, 2, 5])
    relevant = torch.nn.functional.one_hot(targets, 9).bool()
    assert torch.equal(rag.relevant_ranks(scores, relevant), R.ranks(scores, targets))


def test_relevant_ranks_bad_input():
    scores = torch.zeros(2, 3)
    with pytest.raises(ValueError, match="at least one"):
        rag.relevant_ranks(scores, torch.tensor([[True, False, False], [False] * 3]))
    with pytest.raises(ValueError, match="bool"):
        rag.relevant_ranks(scores, torch.ones(2, 3))
    with pytest.raises(ValueError, match="bool"):
        rag.relevant_ranks(scores, torch.ones(3, 3, dtype=torch.bool))
    with pytest.raises(ValueError):
        rag.relevant_ranks(torch.zeros(3), torch.ones(3, dtype=torch.bool))


def test_dense_retrieval_finds_the_right_document_on_a_toy_index(encoder):
    from utils.pretrained import embed_sentences

    model, tokenizer = encoder
    passages = [
        "The orchestra rehearsed the symphony for the concert on Friday.",
        "Heavy rain flooded the streets and closed the motorway.",
        "The striker scored twice and the team won the cup final.",
        "The bakery sells fresh bread and croissants every morning.",
    ]
    queries = [
        "Which team won the football match?",
        "Where can I buy bread?",
        "Was there a storm with flooding?",
    ]
    scores = (
        embed_sentences(queries, model, tokenizer) @ embed_sentences(passages, model, tokenizer).T
    )
    assert rag.top_k(scores, 1)[:, 0].tolist() == [2, 3, 1]


# --- prompt, citations, answers ------------------------------------------------------------


def test_build_prompt_format():
    prompt = rag.build_prompt("Who?", ["Alpha text.", "Beta text."])
    assert prompt == (
        f"{rag.INSTRUCTION}\n\nSources:\n[1] Alpha text.\n[2] Beta text.\n\nQuestion: Who?"
    )
    assert rag.build_prompt("Who?") == "Answer in a few words. Question: Who?"
    with pytest.raises(ValueError):
        rag.build_prompt("  ", ["x"])
    with pytest.raises(TypeError):
        rag.build_prompt("Who?", "a single string")
    with pytest.raises(TypeError):
        rag.build_prompt("Who?", ["ok", 3])


def test_parse_citations():
    assert rag.parse_citations("Paris [2][1], see [2]") == [2, 1]
    assert rag.parse_citations("[1, 3] and [ 2 ]") == [1, 3]  # "[ 2 ]" is not a citation
    assert rag.parse_citations("It was 1406 [3].") == [3]
    assert rag.parse_citations("no citation (1)") == []
    assert rag.parse_citations("[12]") == [12]
    with pytest.raises(TypeError):
        rag.parse_citations(None)


def test_is_correct():
    assert rag.is_correct("It was founded in 1406 by Dorian.", "1406")
    assert not rag.is_correct("In 14062.", "1406")  # whole words only
    assert rag.is_correct("about 89600 people", "89,600")
    assert rag.is_correct("DORIAN  tounford!", "Dorian Tounford")
    assert not rag.is_correct("Dorian", "Dorian Tounford")
    with pytest.raises(ValueError):
        rag.is_correct("x", "...")
    with pytest.raises(TypeError):
        rag.is_correct(3, "x")


def test_chat_batch_on_rag_prompts_equals_one_by_one(decoder):
    """The answers of 09.4 come from utils.pretrained.chat_batch: batched = alone, on SmolLM2."""
    model, tokenizer = decoder
    prompts = [
        rag.build_prompt("Who founded Brindale?", ["Brindale was founded by Dorian Tounford."]),
        "What is the capital of France?",
    ]
    side = tokenizer.padding_side
    batched = P.chat_batch(prompts, model, tokenizer, max_new_tokens=8, batch_size=2)
    alone = [P.chat_batch([p], model, tokenizer, max_new_tokens=8)[0] for p in prompts]
    assert batched == alone  # left padding: as if each prompt were alone
    assert tokenizer.padding_side == side  # restored
    assert P.chat_batch(prompts, model, tokenizer, max_new_tokens=8) == batched
    prefilled = P.chat_batch(prompts[:1], model, tokenizer, max_new_tokens=4, answer_prefix="[")
    assert prefilled[0].startswith("[") and len(prefilled[0]) > 1  # the prefix, then the model
