import pytest

from utils import paths
from utils.paths import REPO_ROOT, cache_dir, short_path


def test_repo_root_is_the_repository():
    assert (REPO_ROOT / "utils" / "paths.py").is_file()
    assert (REPO_ROOT / "requirements.txt").is_file()


def test_cache_dir_default_and_override(tmp_path, monkeypatch):
    monkeypatch.delenv("COURSE_CACHE_DIR", raising=False)
    assert cache_dir("x", create=False) == REPO_ROOT / ".cache" / "x"
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path))
    d = cache_dir("a", "b")
    assert d == tmp_path / "a" / "b" and d.is_dir()


@pytest.mark.parametrize("part", ["..", "a/b", "", ".", 3])
def test_cache_dir_rejects_paths(part):
    with pytest.raises(ValueError, match="plain folder names"):
        cache_dir(part, create=False)


def test_short_path_hides_machine_folders(tmp_path):
    assert short_path(REPO_ROOT / "utils" / "env.py") == "utils/env.py"
    assert (
        short_path(tmp_path / "x" / "site-packages" / "pkg" / "f.txt")
        == "<site-packages>/pkg/f.txt"
    )
    assert short_path(tmp_path / "elsewhere.txt") == "elsewhere.txt"


def test_repo_root_is_checked():
    assert paths.repo_root() == REPO_ROOT
    for name in ("README.md", "chapters", "utils"):
        assert (REPO_ROOT / name).exists()


def test_an_install_outside_the_repository_fails_clearly(tmp_path, monkeypatch):
    """`pip install .` (not -e) puts utils in site-packages, where there are no chapters."""
    site_packages = tmp_path / "site-packages"
    (site_packages / "utils").mkdir(parents=True)
    monkeypatch.setattr(paths, "REPO_ROOT", site_packages)
    monkeypatch.delenv("COURSE_CACHE_DIR", raising=False)
    with pytest.raises(RuntimeError, match=r"no README\.md, chapters there.*pip install -e \."):
        paths.repo_root()
    with pytest.raises(RuntimeError, match="make install"):
        paths.cache_dir("models")
    assert not (site_packages / ".cache").exists()  # nothing was written there
    # A cache folder of one's own still works.
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path / "cache"))
    assert paths.cache_dir("models") == tmp_path / "cache" / "models"
