import pytest

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
