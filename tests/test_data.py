import hashlib
import http.server
import socket
import threading
import urllib.error
import urllib.request
from functools import partial

import pytest
import torch
from pytest_socket import SocketBlockedError

from utils import data

# ------------------------------------------------------------------ offline data sets


def test_news_corpus():
    articles = data.news_corpus()
    assert len(articles) == 300
    assert all(isinstance(a, str) and len(a) > 100 for a in articles)
    assert 300_000 < sum(map(len, articles)) < 400_000
    articles.clear()  # callers get a copy; the cached corpus is untouched
    assert len(data.news_corpus()) == 300


def test_analogy_questions():
    qs = data.analogy_questions()
    assert len(qs) == 19_544
    assert qs[0] == data.Analogy("Athens", "Greece", "Baghdad", "Iraq", "capital-common-countries")
    assert len({q.section for q in qs}) == 14
    family = data.analogy_questions("family")
    assert family and all(q.section == "family" for q in family)


def test_analogy_unknown_section_lists_the_valid_ones():
    with pytest.raises(ValueError, match="capital-world"):
        data.analogy_questions("capitals")


def test_simlex999():
    pairs = data.simlex999()
    assert len(pairs) == 999
    assert pairs[0] == ("old", "new", 1.58)
    assert all(0 <= s <= 10 for _, _, s in pairs)


def test_polarity_sentences():
    rows = data.polarity_sentences()
    assert len(rows) == 200
    assert sorted({label for _, label in rows}) == [0, 1]
    assert sum(label for _, label in rows) == 100
    assert any("—" in text for text, _ in rows)  # read as Windows-1252, not mangled


def test_digits():
    images, labels = data.digits()
    assert images.shape == (1797, 8, 8) and images.dtype == torch.float32
    assert labels.shape == (1797,) and labels.dtype == torch.int64
    assert 0 <= images.min() and images.max() <= 1
    assert set(labels.tolist()) == set(range(10))


def test_missing_gensim_gives_the_pip_command(monkeypatch):
    monkeypatch.setattr(data.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModuleNotFoundError, match=r"pip install gensim==4\.4\.0"):
        data.gensim_data_path("simlex999.txt")


# ------------------------------------------------------------------ download()


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache" / "downloads"


@pytest.fixture
def source(tmp_path):
    f = tmp_path / "served" / "words.txt"
    f.parent.mkdir()
    f.write_bytes(b"attention is all you need\n")
    return f, hashlib.sha256(f.read_bytes()).hexdigest()


def test_download_file_url_then_cache_hit(cache, source):
    f, digest = source
    path = data.download(f.as_uri(), digest)
    assert path == cache / "words.txt" and path.read_bytes() == f.read_bytes()
    f.unlink()  # the source is gone: the cached copy is used, nothing is fetched
    assert data.download(f.as_uri(), digest.upper()) == path
    assert [p.name for p in cache.iterdir()] == ["words.txt"]  # no partial files left


def test_download_checksum_mismatch_saves_nothing(cache, source):
    f, _ = source
    with pytest.raises(data.DownloadError, match="Checksum mismatch"):
        data.download(f.as_uri(), "0" * 64)
    assert list(cache.iterdir()) == []


def test_download_replaces_a_corrupted_cached_file(cache, source):
    f, digest = source
    path = data.download(f.as_uri(), digest)
    path.write_bytes(b"corrupted")
    assert data.download(f.as_uri(), digest).read_bytes() == f.read_bytes()


@pytest.mark.parametrize(
    ("url", "sha", "match"),
    [
        ("ftp://example.org/x", "a" * 64, "http"),
        ("not a url", "a" * 64, "http"),
        ("https://example.org/x.txt", "abc", "64 hexadecimal"),
        ("https://example.org/x.txt", None, "64 hexadecimal"),
        ("https://example.org/", "a" * 64, "filename"),
    ],
)
def test_download_bad_arguments(cache, url, sha, match):
    with pytest.raises(ValueError, match=match):
        data.download(url, sha)


def _no_network(*args, **kwargs):
    """What urlopen raises on a machine with no network: the name does not resolve."""
    raise urllib.error.URLError(socket.gaierror(-3, "Temporary failure in name resolution"))


def test_download_offline_fails_with_a_clear_message(cache, monkeypatch):
    monkeypatch.setattr(data.urllib.request, "urlopen", _no_network)
    with pytest.raises(data.DownloadError) as info:
        data.download("https://example.org/data/file.bin", "a" * 64)
    message = str(info.value)
    assert "needs the network once" in message and "name resolution" in message
    assert str(cache / "file.bin") in message  # where to put a copy by hand
    assert "\n" not in message
    assert info.value.__cause__ is None and info.value.__suppress_context__
    assert list(cache.iterdir()) == []


def test_download_says_when_a_cached_file_failed_its_checksum(cache, source, monkeypatch):
    f, digest = source
    data.download(f.as_uri(), digest).write_bytes(b"corrupted")
    monkeypatch.setattr(data.urllib.request, "urlopen", _no_network)
    with pytest.raises(data.DownloadError, match="failed the checksum, removed"):
        data.download(f.as_uri(), digest)


def test_download_does_not_blame_the_network_for_other_errors(cache, monkeypatch):
    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(data.urllib.request, "urlopen", disk_full)
    with pytest.raises(OSError, match="No space left") as info:
        data.download("https://example.org/x.bin", "a" * 64)
    assert not isinstance(info.value, data.DownloadError)


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def local_server(source):
    f, _ = source
    handler = partial(_Quiet, directory=str(f.parent))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.allow_hosts(["127.0.0.1"])
def test_download_over_http_from_a_local_server(cache, source, local_server):
    f, digest = source
    path = data.download(f"{local_server}/words.txt", digest, filename="saved.txt")
    assert path.name == "saved.txt" and path.read_bytes() == f.read_bytes()
    with pytest.raises(data.DownloadError, match="HTTPError"):
        data.download(f"{local_server}/missing.txt", digest)


@pytest.mark.allow_hosts(["127.0.0.1"])
def test_download_connection_refused(cache):
    with socket.socket() as s:  # find a free port, then close it: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(data.DownloadError, match="Could not download"):
        data.download(f"http://127.0.0.1:{port}/x.txt", "a" * 64)


# ------------------------------------------------------------------ the no-network guard


def test_unit_tests_cannot_reach_the_network():
    with pytest.raises(SocketBlockedError):
        socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    with pytest.raises(SocketBlockedError):
        urllib.request.urlopen("https://example.org", timeout=1)


def test_split_sentences():
    text = 'Mr. Howard spoke. The U.S. agreed! 20 people left. "Why?" she asked. Was it? Yes.'
    assert data.split_sentences(text) == [
        "Mr. Howard spoke.",
        "The U.S. agreed!",
        "20 people left.",
        '"Why?" she asked.',
        "Was it?",
        "Yes.",
    ]
    assert data.split_sentences("") == []
    counts = [len(data.split_sentences(a)) for a in data.news_corpus()]
    assert min(counts) >= 2 and sum(counts) > 2000  # every article has a first sentence and more
    with pytest.raises(TypeError):
        data.split_sentences(None)
