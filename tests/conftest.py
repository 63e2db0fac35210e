"""Shared test setup.

* No network: every unit test runs with sockets disabled (pytest-socket), unless it is marked
  ``@pytest.mark.allow_hosts(["127.0.0.1"])`` to talk to a server the test itself started on
  loopback. A test that tries to reach the internet fails with ``SocketBlockedError``.
* The Hugging Face cache points at an empty folder, so "is this Hub model cached?" has the same
  answer on every machine, and ``HF_HUB_OFFLINE`` is unset (the socket block is the guard).
* ``COURSE_DEVICE`` is unset: the tests train on the CPU, as CI does, even for a learner who
  set it for JupyterLab (the tests of :func:`utils.env.device` set it themselves).
"""

import os

import pytest
import torch

from utils.paths import cache_dir

# Set before anything imports huggingface_hub, which reads these once. HF_HUB_OFFLINE is removed
# so that the tests see what a learner without it sees: with sockets blocked, the loaders must
# still fail fast with a clear message.
_HF_HOME = cache_dir("tests-hf-home")  # inside the repo's .cache; never holds a model
os.environ["HF_HOME"] = str(_HF_HOME)
os.environ["HF_HUB_CACHE"] = str(_HF_HOME / "hub")
os.environ.pop("HF_HUB_OFFLINE", None)
os.environ.pop("COURSE_DEVICE", None)
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.get_closest_marker("allow_hosts") is None:
            item.add_marker(pytest.mark.disable_socket)


@pytest.fixture(scope="session")
def encoder():
    from utils.pretrained import load_encoder

    return load_encoder()


@pytest.fixture(scope="session")
def decoder():
    from utils.pretrained import load_decoder

    return load_decoder()


@pytest.fixture(scope="session")
def make_tiny_llama():
    """A factory for small random Hugging Face Llamas (eval mode, the same weights for the same
    arguments, the global RNG left as it was): ``make_tiny_llama(vocab_size, **config_overrides)``.
    For tests of code that takes any causal LM; the defaults are 2 layers, d_model 32, 4 query and
    2 key/value heads."""
    from transformers import LlamaConfig, LlamaForCausalLM

    def make(vocab_size, **overrides):
        sizes = dict(
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            max_position_embeddings=64,
        )
        with torch.random.fork_rng():
            torch.manual_seed(0)
            return LlamaForCausalLM(
                LlamaConfig(vocab_size=vocab_size, **(sizes | overrides))
            ).eval()

    return make
