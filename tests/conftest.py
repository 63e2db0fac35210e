"""Shared test setup.

* No network: every unit test runs with sockets disabled (pytest-socket), unless it is marked
  ``@pytest.mark.allow_hosts(["127.0.0.1"])`` to talk to a server the test itself started on
  loopback. A test that tries to reach the internet fails with ``SocketBlockedError``.
* The Hugging Face cache points at an empty folder, so "is this Hub model cached?" has the same
  answer on every machine, and ``HF_HUB_OFFLINE`` is unset (the socket block is the guard).
"""

import os

import pytest

from utils.paths import cache_dir

# Set before anything imports huggingface_hub, which reads these once. HF_HUB_OFFLINE is removed
# so that the tests see what a learner without it sees: with sockets blocked, the loaders must
# still fail fast with a clear message.
_HF_HOME = cache_dir("tests-hf-home")  # inside the repo's .cache; never holds a model
os.environ["HF_HOME"] = str(_HF_HOME)
os.environ["HF_HUB_CACHE"] = str(_HF_HOME / "hub")
os.environ.pop("HF_HUB_OFFLINE", None)
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
