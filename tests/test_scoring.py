"""utils.scoring: log-probabilities of labels under a causal LM, against Hugging Face's loss."""

import pytest
import torch

from utils import scoring as S


@pytest.fixture(scope="module")
def tiny_llama(make_tiny_llama):
    return make_tiny_llama(50)


def test_mean_nll_equals_hugging_face_loss_with_ignored_labels(tiny_llama):
    ids = torch.randint(0, 50, (3, 12), generator=torch.Generator().manual_seed(1))
    labels = ids.clone()
    labels[:, :5] = S.IGNORE_INDEX
    labels[1, 9:] = S.IGNORE_INDEX
    with torch.no_grad():
        out = tiny_llama(input_ids=ids, labels=labels)
    torch.testing.assert_close(S.mean_nll(out.logits, labels), out.loss)


def test_sequence_logprob_is_the_chain_rule_by_hand(tiny_llama):
    ids = torch.tensor([[3, 7, 11, 2, 9]])
    labels = ids.clone()
    labels[0, :2] = S.IGNORE_INDEX  # score tokens 11, 2, 9 given 3, 7
    with torch.no_grad():
        logits = tiny_llama(ids).logits
    by_hand = sum(
        torch.log_softmax(tiny_llama(ids[:, :t]).logits[0, -1], -1)[ids[0, t]] for t in range(2, 5)
    )
    torch.testing.assert_close(S.sequence_logprob(logits, labels)[0], by_hand.detach())


def test_token_logprobs_mask_and_shapes():
    logits = torch.randn(2, 6, 10)
    labels = torch.full((2, 6), S.IGNORE_INDEX)
    labels[0, 3] = 4
    logprobs, mask = S.token_logprobs(logits, labels)
    assert logprobs.shape == mask.shape == (2, 5)
    assert mask.sum() == 1 and mask[0, 2]
    torch.testing.assert_close(logprobs[0, 2], torch.log_softmax(logits[0, 2], -1)[4])
    assert (logprobs[~mask] == 0).all()


def test_bad_input():
    with pytest.raises(ValueError, match="batch, seq, vocab"):
        S.token_logprobs(torch.randn(6, 10), torch.zeros(1, 6, dtype=torch.long))
    with pytest.raises(ValueError, match="must match"):
        S.token_logprobs(torch.randn(2, 6, 10), torch.zeros(2, 5, dtype=torch.long))
    with pytest.raises(ValueError, match="integer"):
        S.token_logprobs(torch.randn(2, 6, 10), torch.zeros(2, 6))
    with pytest.raises(ValueError, match="no label"):
        S.mean_nll(torch.randn(1, 4, 10), torch.full((1, 4), S.IGNORE_INDEX))
