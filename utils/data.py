"""The course's offline data, as plain Python and tensors, plus a careful download helper.

Everything here except :func:`download` reads files that are installed with the course's
packages, so it works with no network:

==========================  ================================================  ======================
function                    what you get                                      source
==========================  ================================================  ======================
:func:`news_corpus`         300 English news articles (~360 KB of text)       gensim's Lee corpus
:func:`analogy_questions`   19,544 word analogies "a : b :: c : d", 14        Google analogy set
                            sections (capitals, plurals, tenses, ...)         (Mikolov et al. 2013)
:func:`simlex999`           999 word pairs with human similarity, 0-10        SimLex-999
:func:`polarity_sentences`  200 movie-review sentences labelled pos / neg     Pang & Lee
:func:`digits`              1,797 8x8 handwritten digit images and labels     scikit-learn
==========================  ================================================  ======================
"""

from __future__ import annotations

import hashlib
import http.client
import importlib.util
import os
import re
import shutil
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from functools import cache
from pathlib import Path
from typing import NamedTuple

import torch

from .paths import REPO_ROOT, cache_dir

__all__ = [
    "Analogy",
    "DownloadError",
    "analogy_questions",
    "digits",
    "download",
    "gensim_data_path",
    "news_corpus",
    "polarity_sentences",
    "simlex999",
    "split_sentences",
]


class DownloadError(ConnectionError):
    """A download failed (no network, a bad URL) or its checksum did not match."""


def gensim_data_path(filename: str) -> Path:
    """The path of one of the data files that ships inside the ``gensim`` package."""
    spec = importlib.util.find_spec("gensim")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            "The course's text data ships with gensim, which is not installed. "
            "Run:  pip install gensim==4.4.0   (or `make install` in the course folder)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "test" / "test_data" / filename
    if not path.is_file():
        raise FileNotFoundError(
            f"{filename} is missing from the installed gensim package. "
            "Reinstall it:  pip install --force-reinstall gensim==4.4.0"
        )
    return path


@cache
def _news() -> tuple[str, ...]:
    text = gensim_data_path("lee_background.cor").read_text(encoding="utf-8")
    return tuple(line.strip() for line in text.splitlines() if line.strip())


def news_corpus() -> list[str]:
    """300 short English news articles (the Lee background corpus), one string per article."""
    return list(_news())


# A sentence ends at ". ", "! " or "? " before a capital letter, a digit or a quote, except after
# a title ("Mr.", "Dr.", "Mrs.") or a single capital ("U.S.", "George W. Bush").
_SENTENCE_END = re.compile(r"(?<=[.!?])(?<![A-Z][a-z]\.)(?<!Mrs\.)(?<!\b[A-Z]\.)\s+(?=[A-Z0-9\"'])")


def split_sentences(text: str) -> list[str]:
    """Split running text into sentences with a simple rule (see ``_SENTENCE_END``); good
    enough for news text, not a linguistic tool.

    >>> split_sentences("Mr. Howard spoke. The U.S. agreed! 20 people left.")
    ['Mr. Howard spoke.', 'The U.S. agreed!', '20 people left.']
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]


class Analogy(NamedTuple):
    """One analogy question: ``a`` is to ``b`` as ``c`` is to ``d`` (``section`` names its kind)."""

    a: str
    b: str
    c: str
    d: str
    section: str


@cache
def _analogies() -> tuple[Analogy, ...]:
    out = []
    section = None
    for line in gensim_data_path("questions-words.txt").read_text(encoding="utf-8").splitlines():
        if line.startswith(":"):
            section = line[1:].strip()
        elif line.strip():
            a, b, c, d = line.split()
            out.append(Analogy(a, b, c, d, section))
    return tuple(out)


def analogy_questions(section: str | None = None) -> list[Analogy]:
    """The Google word-analogy questions, e.g. ``Analogy('Athens', 'Greece', 'Baghdad', 'Iraq',
    'capital-common-countries')``.

    ``section`` keeps one of the 14 sections (``"capital-common-countries"``, ``"family"``,
    ``"gram1-adjective-to-adverb"``, ...); ``None`` returns all 19,544 questions.
    """
    questions = _analogies()
    if section is None:
        return list(questions)
    sections = list(dict.fromkeys(q.section for q in questions))
    if section not in sections:
        raise ValueError(f"unknown section {section!r}; sections: {sections}")
    return [q for q in questions if q.section == section]


def simlex999() -> list[tuple[str, str, float]]:
    """SimLex-999: ``[(word1, word2, human_similarity), ...]``, similarity from 0 to 10.

    SimLex rates *similarity* (cup ~ mug), not mere relatedness (cup ~ coffee scores low).
    """
    pairs = []
    for line in gensim_data_path("simlex999.txt").read_text(encoding="utf-8").splitlines():
        if line.startswith("#") or not line.strip():
            continue
        w1, w2, score = line.split("\t")
        pairs.append((w1, w2, float(score)))
    return pairs


_LABEL = re.compile(r"^__label__(pos|neg)\s+(.*)$")


def polarity_sentences() -> list[tuple[str, int]]:
    """200 movie-review sentences: ``[(sentence, label), ...]`` with 1 = positive, 0 = negative.

    The text is lower-cased and tokenised with spaces, as in the original release (which is
    encoded in Windows-1252, not UTF-8: it has "—" and accented letters).
    """
    out = []
    text = gensim_data_path("pang_lee_polarity.cor").read_text(encoding="cp1252")
    for line in text.splitlines():
        m = _LABEL.match(line.strip())
        if m:
            out.append((m.group(2).strip(), int(m.group(1) == "pos")))
    return out


def digits() -> tuple[torch.Tensor, torch.Tensor]:
    """scikit-learn's handwritten digits: images ``(1797, 8, 8)`` float32 in [0, 1], labels
    ``(1797,)`` int64 in 0..9."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = torch.tensor(bunch.images, dtype=torch.float32) / 16.0
    labels = torch.tensor(bunch.target, dtype=torch.int64)
    return images, labels


# ------------------------------------------------------------------------------ downloads


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


#: What a failed fetch raises (a full disk, say, is an OSError too, and is not reported as a
#: network problem).
_NETWORK_ERRORS = (urllib.error.URLError, http.client.HTTPException, TimeoutError, ConnectionError)


def _where(path: Path) -> str:
    """``path`` relative to the repository when inside it (as printed in notebooks), else whole."""
    try:
        return path.resolve().relative_to(REPO_ROOT).as_posix()
    except ValueError:
        return str(path)


def download(url: str, sha256: str, filename: str | None = None, *, timeout: float = 30) -> Path:
    """Fetch ``url`` once into ``<cache>/downloads/`` and return the local path.

    The file's SHA-256 must equal ``sha256`` (64 hex digits), checked after every download and
    on every later call, so a corrupted or changed file is never used. A file already in the cache
    is returned without touching the network, so a notebook that downloaded once works offline
    from then on.

    Raises
    ------
    ValueError
        Bad arguments (a URL that is not http(s)/file, a checksum that is not 64 hex digits).
    DownloadError
        The network is unavailable or the server failed, or the checksum did not match. The
        message says what to do; nothing partial is left in the cache.
    """
    if not isinstance(url, str) or urllib.parse.urlparse(url).scheme not in {
        "http",
        "https",
        "file",
    }:
        raise ValueError(f"url must be an http(s):// or file:// URL, got {url!r}")
    if not isinstance(sha256, str) or not re.fullmatch(r"[0-9a-fA-F]{64}", sha256):
        raise ValueError(f"sha256 must be 64 hexadecimal digits, got {sha256!r}")
    sha256 = sha256.lower()
    name = filename or Path(urllib.parse.unquote(urllib.parse.urlparse(url).path)).name
    if not name or "/" in name or name in {".", ".."}:
        raise ValueError(f"cannot take a file name from {url!r}; pass filename=...")
    target = cache_dir("downloads") / name

    stale = ""
    if target.is_file():
        if _sha256(target) == sha256:
            return target
        target.unlink()  # stale or corrupted: fetch it again
        stale = f" (a file was already at {_where(target)} but failed the checksum, removed)"

    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        try:
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
                shutil.copyfileobj(resp, out)
        except _NETWORK_ERRORS as e:
            reason = getattr(e, "reason", None) or e
            raise DownloadError(
                f"Could not download {url} ({type(e).__name__}: {reason}){stale}. "
                "This file needs the network once: connect and run the cell again, or put a "
                f"copy with the right checksum at {_where(target)}."
            ) from None
        got = _sha256(tmp)
        if got != sha256:
            raise DownloadError(
                f"Checksum mismatch for {url}: expected sha256 {sha256}, got {got}{stale}. "
                "The file changed on the server or was corrupted; it was not saved."
            )
        tmp.replace(target)
        return target
    finally:
        tmp.unlink(missing_ok=True)
