import pytest
import torch

from utils import decoding as D
from utils import rnn_seq2seq as R

PAD, BOS, EOS = 0, 1, 2


@pytest.fixture(autouse=True)
def one_thread():
    """These models are tiny: one thread is faster, and immune to a busy machine's other
    processes (two threads wait for each other at every small operation)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def small_model(attention, vocab=9, **kwargs):
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return R.RNNSeq2Seq(
            vocab, vocab, attention=attention, embed_size=8, hidden_size=16, **kwargs
        ).eval()


def padded_batch():
    """Three sources of lengths 5, 3 and 1, right-padded: (3, 5)."""
    return torch.tensor([[4, 5, 6, 7, EOS], [8, 4, EOS, PAD, PAD], [EOS, PAD, PAD, PAD, PAD]])


# ----------------------------------------------------------------------------- AdditiveAttention
def test_additive_attention_shapes_and_weights_sum_to_one():
    torch.manual_seed(0)
    attention = R.AdditiveAttention(query_size=6, key_size=5, attention_size=7)
    context, weights = attention(torch.randn(4, 6), torch.randn(4, 9, 5))
    assert context.shape == (4, 5) and weights.shape == (4, 9)
    torch.testing.assert_close(weights.sum(-1), torch.ones(4))
    assert (weights > 0).all()


def test_additive_attention_is_the_equation():
    """e_j = vᵀ tanh(W s + U h_j), α = softmax(e), c = Σ α_j h_j, one key at a time."""
    torch.manual_seed(0)
    attention = R.AdditiveAttention(6, 5, 7)
    s, h = torch.randn(1, 6), torch.randn(1, 4, 5)
    context, weights = attention(s, h)
    W, U, v = attention.W.weight, attention.U.weight, attention.v.weight[0]
    e = torch.stack([v @ torch.tanh(W @ s[0] + U @ h[0, j]) for j in range(4)])
    alpha = torch.softmax(e, dim=0)
    torch.testing.assert_close(weights[0], alpha)
    torch.testing.assert_close(context[0], sum(alpha[j] * h[0, j] for j in range(4)))


def test_additive_attention_respects_padding():
    torch.manual_seed(0)
    attention = R.AdditiveAttention(6, 5, 7)
    s, h = torch.randn(2, 6), torch.randn(2, 4, 5)
    mask = torch.tensor([[True, True, False, False], [True, True, True, True]])
    context, weights = attention(s, h, mask)
    assert (weights[0, 2:] == 0).all() and (weights[1] > 0).all()
    torch.testing.assert_close(weights.sum(-1), torch.ones(2))
    h2 = h.clone()
    h2[0, 2:] = 100.0  # whatever sits at padded positions is ignored
    torch.testing.assert_close(attention(s, h2, mask)[0], context)
    alone, _ = attention(s[:1], h[:1, :2])  # the same as the unpadded source alone
    torch.testing.assert_close(context[:1], alone)
    _, none_allowed = attention(s, h, torch.zeros(2, 4, dtype=torch.bool))
    assert (none_allowed == 0).all()


def test_additive_attention_errors():
    attention = R.AdditiveAttention(6, 5, 7)
    s, h = torch.randn(2, 6), torch.randn(2, 4, 5)
    with pytest.raises(
        ValueError, match=r"query must be \(batch, query_size=6\), got shape \(2, 5\)"
    ):
        attention(torch.randn(2, 5), h)
    with pytest.raises(ValueError, match=r"keys must be \(batch, seq_k, key_size=5\)"):
        attention(s, torch.randn(2, 4, 6))
    with pytest.raises(ValueError, match="share the batch size"):
        attention(s, torch.randn(3, 4, 5))
    with pytest.raises(TypeError, match=r"mask must be a bool tensor.*got dtype torch.float32"):
        attention(s, h, torch.ones(2, 4))
    with pytest.raises(TypeError, match="query must be a tensor"):
        attention([[0.0] * 6] * 2, h)
    with pytest.raises(ValueError, match=r"mask must be .*\(batch, seq_k\), got shape \(2, 1, 4\)"):
        attention(s, h, torch.ones(2, 1, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"mask must be \(2, 4\), got shape \(2, 3\)"):
        attention(s, h, torch.ones(2, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match="attention_size must be a positive int"):
        R.AdditiveAttention(6, 5, 0)


# ----------------------------------------------------------------------------------- the model
@pytest.mark.parametrize("attention", [False, True])
def test_model_shapes(attention):
    model = small_model(attention)
    src, tgt_in = padded_batch(), torch.tensor([[BOS, 4, 5], [BOS, 6, 7], [BOS, 8, 8]])
    logits = model(src, tgt_in)
    assert logits.shape == (3, 3, 9)
    if attention:
        assert model.last_weights.shape == (3, 3, 5)
        torch.testing.assert_close(model.last_weights.sum(-1), torch.ones(3, 3))
        assert (model.last_weights[1, :, 3:] == 0).all()  # padding gets no weight
    else:
        assert model.last_weights is None


@pytest.mark.parametrize("attention", [False, True])
def test_padding_does_not_change_the_output(attention):
    """A source padded to a longer batch gives the same logits as the source alone."""
    model = small_model(attention)
    src, tgt_in = padded_batch(), torch.tensor([[BOS, 4, 5]] * 3)
    batched = model(src, tgt_in)
    alone = model(src[1:2, :3], tgt_in[1:2])
    torch.testing.assert_close(batched[1:2], alone)


def test_without_attention_the_decoder_sees_only_the_final_state():
    model = small_model(attention=False)
    annotations, mask = model.encode(padded_batch())
    tgt_in = torch.tensor([[BOS, 4, 5]] * 3)
    changed = torch.randn_like(annotations)
    last = mask.sum(1) - 1
    rows = torch.arange(3)
    changed[rows, last] = annotations[rows, last]  # keep only the final states
    torch.testing.assert_close(
        model.decode(tgt_in, changed, mask), model.decode(tgt_in, annotations, mask)
    )
    with_attention = small_model(attention=True)
    annotations, mask = with_attention.encode(padded_batch())
    changed[rows, last] = annotations[rows, last]
    assert not torch.allclose(
        with_attention.decode(tgt_in, changed, mask),
        with_attention.decode(tgt_in, annotations, mask),
    )


def test_final_state_is_the_state_after_the_last_real_token():
    model = small_model(attention=False)
    src = padded_batch()
    annotations, mask = model.encode(src)
    _, h_n = model.encoder(model.src_embed(src[1:2, :3]))  # row 1 alone, no padding
    torch.testing.assert_close(model.final_state(annotations, mask)[1], h_n[0, 0])


def test_model_errors():
    model = small_model(attention=True)
    tgt_in = torch.tensor([[BOS]])
    with pytest.raises(ValueError, match=r"src must be \(batch, seq\), got shape \(3,\)"):
        model(torch.tensor([4, 5, EOS]), tgt_in)
    with pytest.raises(ValueError, match=r"src must lie in \[0, 9\).*from 2 to 9"):
        model(torch.tensor([[9, EOS]]), tgt_in)
    with pytest.raises(ValueError, match=r"right-padded.*got row 0 = \[0, 4, 2\]"):
        model(torch.tensor([[PAD, 4, EOS]]), tgt_in)
    with pytest.raises(ValueError, match=r"right-padded.*got row 1 = \[4, 0, 2\]"):
        model(torch.tensor([[4, 5, EOS], [4, PAD, EOS]]), torch.tensor([[BOS], [BOS]]))
    with pytest.raises(ValueError, match="tgt_in has 2 rows for a batch of 1"):
        model(torch.tensor([[4, EOS]]), torch.tensor([[BOS], [BOS]]))
    with pytest.raises(ValueError, match="attention_size only applies"):
        R.RNNSeq2Seq(5, 5, attention=False, attention_size=8)
    with pytest.raises(TypeError, match="attention must be True or False, got str 'additive'"):
        R.RNNSeq2Seq(5, 5, attention="additive")
    with pytest.raises(ValueError, match="hidden_size must be a positive int"):
        R.RNNSeq2Seq(5, 5, attention=True, hidden_size=0)


# ------------------------------------------------------------------------------------ decoding
@pytest.mark.parametrize("attention", [False, True])
def test_greedy_decode_equals_a_hand_loop(attention):
    model = small_model(attention)
    src = padded_batch()
    out, weights = R.greedy_decode(model, src, bos_id=BOS, eos_id=EOS, max_len=6)
    for row in range(3):  # one source at a time, no padding, no batching
        length = int((src[row] != PAD).sum())
        with torch.no_grad():
            annotations, mask = model.encode(src[row : row + 1, :length])
            state = annotations[:, -1]  # s_0 = h_n
            token, tokens, step_weights = torch.tensor([BOS]), [], []
            for _ in range(6):
                logits, state, w = model.step(token, state, annotations, mask)
                token = logits.argmax(-1)
                tokens.append(int(token))
                step_weights.append(w)
                if tokens[-1] == EOS:
                    break
        assert out[row, : len(tokens)].tolist() == tokens
        assert (out[row, len(tokens) :] == PAD).all()
        if attention:
            torch.testing.assert_close(
                weights[row, : len(tokens), :length], torch.cat(step_weights)
            )
        else:
            assert weights is None


def test_greedy_decode_equals_utils_decoding():
    """The model has utils.decoding's encode/decode interface: both greedy loops agree, and
    beam search runs on it."""
    model = small_model(attention=True)
    ours, _ = R.greedy_decode(model, padded_batch(), bos_id=BOS, eos_id=EOS, max_len=6)
    theirs = D.greedy_decode(model, padded_batch(), bos_id=BOS, eos_id=EOS, max_len=6)
    assert torch.equal(ours, theirs)
    one_beam, _ = D.beam_search(
        model, padded_batch(), bos_id=BOS, eos_id=EOS, beam_size=1, max_len=6
    )
    assert torch.equal(one_beam[:, 0], ours)  # a beam of 1 is greedy decoding
    beams, scores = D.beam_search(
        model, padded_batch(), bos_id=BOS, eos_id=EOS, beam_size=3, max_len=6
    )
    assert beams.shape[:2] == (3, 3) and scores.shape == (3, 3)


def test_greedy_decode_needs_eval_mode():
    model = small_model(attention=True).train()
    with pytest.raises(ValueError, match=r"needs the model in eval mode.*call model.eval\(\)"):
        R.greedy_decode(model, padded_batch(), bos_id=BOS, eos_id=EOS)
    with pytest.raises(ValueError, match="max_len must be a positive int"):
        R.greedy_decode(model.eval(), padded_batch(), bos_id=BOS, eos_id=EOS, max_len=0)


# ------------------------------------------------------------------------------------ training
def reverse_task(n, seed, vocab=9, lengths=(2, 5)):
    """Random token strings (ids 3..vocab-1) of random lengths and their reversals, with
    <eos> (and <bos> on the targets), right-padded."""
    g = torch.Generator().manual_seed(seed)
    src = torch.full((n, lengths[1] + 1), PAD)
    tgt = torch.full((n, lengths[1] + 2), PAD)
    sizes = torch.randint(lengths[0], lengths[1] + 1, (n,), generator=g)
    for i, size in enumerate(sizes.tolist()):
        tokens = torch.randint(3, vocab, (size,), generator=g)
        src[i, : size + 1] = torch.cat([tokens, torch.tensor([EOS])])
        tgt[i, : size + 2] = torch.cat([torch.tensor([BOS]), tokens.flip(0), torch.tensor([EOS])])
    return src, tgt, sizes


def test_training_learns_to_reverse_and_leaves_the_global_rng_alone():
    src, tgt, _ = reverse_task(2000, seed=0)
    test_src, test_tgt, test_sizes = reverse_task(300, seed=1)
    model = small_model(attention=True, vocab=9)
    before = R.exact_match_by_length(model, test_src, test_tgt, test_sizes, bos_id=BOS, eos_id=EOS)
    rng = torch.get_rng_state()
    losses = R.train(model, src, tgt, steps=300, batch_size=64, lr=1e-2, seed=0, desc=None)
    assert torch.equal(torch.get_rng_state(), rng)  # batches come from a local generator
    assert not model.training and len(losses) == 300
    assert sum(losses[-10:]) < 0.2 * sum(losses[:10])
    after = R.exact_match_by_length(model, test_src, test_tgt, test_sizes, bos_id=BOS, eos_id=EOS)
    assert list(after) == [2, 3, 4, 5]
    assert max(before.values()) < 0.2  # untrained: (almost) nothing right
    assert min(after.values()) > 0.9, after  # 1.00 for five seeds tried

    # exact_match_by_length agrees with a direct count over the decoded outputs
    out, _ = R.greedy_decode(model, test_src, bos_id=BOS, eos_id=EOS)
    for size, em in after.items():
        rows = (test_sizes == size).nonzero()[:, 0].tolist()
        right = [out[i, : size + 1].tolist() == test_tgt[i, 1 : size + 2].tolist() for i in rows]
        assert em == pytest.approx(sum(right) / len(rows))


def test_training_repeats_from_its_seed():
    src, tgt, _ = reverse_task(200, seed=0)
    runs = []
    for _ in range(2):
        model = small_model(attention=False)
        runs.append(R.train(model, src, tgt, steps=3, batch_size=8, seed=5, desc=None))
    assert runs[0] == runs[1]


def test_train_errors():
    model = small_model(attention=False)
    src, tgt, _ = reverse_task(10, seed=0)
    with pytest.raises(ValueError, match="steps must be a positive int, got 0"):
        R.train(model, src, tgt, steps=0, desc=None)
    with pytest.raises(ValueError, match="one row per pair, got 10 and 9 rows"):
        R.train(model, src, tgt[:9], steps=1, desc=None)
    with pytest.raises(ValueError, match="tgt must hold <bos> and at least one more token"):
        R.train(model, src, tgt[:, :1], steps=1, desc=None)
    with pytest.raises(
        ValueError, match=r"lengths must be \(10,\), one per source, got shape \(2,\)"
    ):
        R.exact_match_by_length(model.eval(), src, tgt, [3, 4], bos_id=BOS, eos_id=EOS)
    with pytest.raises(ValueError, match=r"tgt must be \(10, seq_t\), a row per source"):
        R.exact_matches(model.eval(), src, tgt[:9], bos_id=BOS, eos_id=EOS)
    with pytest.raises(TypeError, match="src must be an int64 tensor"):
        R.train(model, src.float(), tgt, steps=1, desc=None)
    with pytest.raises(ValueError, match="lr must be a number > 0, got 0"):
        R.train(model, src, tgt, steps=1, lr=0, desc=None)


def test_digit_task():
    task = R.digit_task(n_train=300, n_test=50, min_len=3, max_len=6, seed=1)
    assert task.train.sources[0].split()[0] in R.DIGITS_EN
    for en, fr in zip(task.test.sources, task.test.targets, strict=True):
        digits = [R.DIGITS_EN.index(w) for w in en.split()]
        assert fr.split() == [R.DIGITS_FR[d] for d in digits]
    assert not set(task.test.sources) & set(task.train.sources)  # held out
    assert task.test_lengths.tolist() == [len(s.split()) for s in task.test.sources]
    assert set(task.test_lengths.tolist()) == {3, 4, 5, 6}
    assert task.train.src.shape == (300, 7) and task.train.tgt.shape == (300, 8)
    again = R.digit_task(n_train=300, n_test=50, min_len=3, max_len=6, seed=1)
    assert again.test.sources == task.test.sources  # repeatable from the seed
    with pytest.raises(ValueError, match="max_len must be an int >= 3, got 2"):
        R.digit_task(min_len=3, max_len=2)
    with pytest.raises(ValueError, match="unseen in training"):
        R.digit_task(n_train=500, n_test=50, min_len=1, max_len=1)
