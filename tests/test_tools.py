"""Tests of the repository's own tools in ``tools/`` (not the learners' library): the network
block of notebook runs, the choice of PyTorch's package index, and the JupyterLab settings."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tools import torch_index
from utils.paths import REPO_ROOT

OFFLINE = REPO_ROOT / "tools" / "offline"

# Run in a fresh Python with tools/offline on PYTHONPATH: a non-loopback connect must fail with the
# course's message, a loopback server and client must work, and so must a Unix socket.
_CHILD = textwrap.dedent(
    """
    import os, socket, sys, threading

    assert sys.modules["sitecustomize"].__file__.startswith(sys.argv[1]), "wrong sitecustomize"
    results = {"blocked": getattr(socket, "_course_network_blocked", False)}

    def refused(call):
        try:
            call()
        except OSError as error:
            return str(error)
        return None

    for address in [("93.184.216.34", 80), ("::ffff:93.184.216.34", 80), ("2606:4700::1", 443)]:
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        try:
            s = socket.socket(family)
        except OSError:  # a machine without IPv6
            results[f"connect {address[0]}"] = results[f"connect_ex {address[0]}"] = "no IPv6"
            continue
        with s:
            results[f"connect {address[0]}"] = refused(lambda: s.connect(address))
            results[f"connect_ex {address[0]}"] = refused(lambda: s.connect_ex(address))
    results["lookup"] = refused(lambda: socket.getaddrinfo("huggingface.co", 443))
    results["create_connection"] = refused(
        lambda: socket.create_connection(("example.com", 80), timeout=2)
    )

    for host, family in [("127.0.0.1", socket.AF_INET), ("localhost", socket.AF_INET)]:
        with socket.socket(family) as server:
            server.bind((host, 0))
            server.listen()
            port = server.getsockname()[1]
            thread = threading.Thread(target=lambda: server.accept()[0].sendall(b"hi"))
            thread.start()
            with socket.create_connection((host, port), timeout=5) as client:
                results[f"loopback {host}"] = client.recv(2).decode()
            thread.join()

    path = os.path.join(sys.argv[2], "s.sock")
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(path)
        server.listen()
        with socket.socket(socket.AF_UNIX) as client:
            client.connect(path)
            results["unix"] = "ok"
    print(__import__("json").dumps(results))
    """
)


def _run_child(tmp_path, block: str | None, code: str = _CHILD):
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(OFFLINE), "HOME": str(tmp_path)}
    if block is not None:
        env["COURSE_BLOCK_NETWORK"] = block
    done = subprocess.run(
        [sys.executable, "-c", code, str(OFFLINE), str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_offline_sitecustomize_blocks_the_network_but_not_loopback(tmp_path):
    results = _run_child(tmp_path, "1")
    assert results["blocked"] is True
    for address, port in [("93.184.216.34", 80), ("::ffff:93.184.216.34", 80)]:
        for call in ("connect", "connect_ex"):
            message = results[f"{call} {address}"]
            if message == "no IPv6" and ":" in address:
                continue
            assert message.startswith(f"network access blocked: connecting to {address}:{port}.")
            assert "The course runs offline (COURSE_BLOCK_NETWORK=1" in message
    assert results["connect 2606:4700::1"] in ("no IPv6",) or (
        "connecting to 2606:4700::1:443" in results["connect 2606:4700::1"]
    )
    assert "looking up 'huggingface.co'" in results["lookup"]
    assert "looking up 'example.com'" in results["create_connection"]
    assert results["loopback 127.0.0.1"] == results["loopback localhost"] == "hi"
    assert results["unix"] == "ok"


def test_offline_sitecustomize_does_nothing_without_the_variable(tmp_path):
    # Nothing is patched, so a connection would really be tried: check only that nothing is
    # patched (no connection is made here).
    child = _CHILD.split("for address in")[0] + "print(__import__('json').dumps(results))"
    assert _run_child(tmp_path, "0", code=child) == {"blocked": False}


def test_offline_sitecustomize_runs_the_one_it_hides(tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    (other / "sitecustomize.py").write_text("import builtins\nbuiltins.OTHER_SITE = 1\n")
    done = subprocess.run(
        [sys.executable, "-c", "import builtins; print(getattr(builtins, 'OTHER_SITE', 0))"],
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": f"{OFFLINE}:{other}"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "1"


def test_makefile_runs_notebooks_offline_on_two_threads_and_the_cpu():
    makefile = (REPO_ROOT / "Makefile").read_text()
    env_line = next(line for line in makefile.splitlines() if line.startswith("NOTEBOOK_ENV ="))
    assert "COURSE_BLOCK_NETWORK=1" in env_line and "COURSE_THREADS=$(COURSE_THREADS)" in env_line
    assert "COURSE_DEVICE=cpu" in env_line  # the committed outputs are the CPU's
    assert "tools/offline" in makefile
    assert "\nCOURSE_THREADS ?= 2\n" in makefile
    assert "export COURSE_BLOCK_NETWORK" not in makefile  # the bootstrap's pip must stay online
    for target in ("notebooks", "execute"):
        recipe = makefile.split(f"\n{target}: $(STAMP)\n", 1)[1].split("\n\n", 1)[0]
        assert "$(NOTEBOOK_ENV)" in recipe, target


# ------------------------------------------------------------------------- PyTorch's index
def _never(url):
    raise AssertionError("must not probe")


@pytest.mark.parametrize(
    ("choice", "environ", "system", "probe", "expected"),
    [
        (None, {}, "Linux", lambda url: True, torch_index.CPU_INDEX),
        ("auto", {}, "Linux", lambda url: False, ""),  # unreachable: pip's usual configuration
        ("", {}, "Darwin", _never, ""),  # PyPI's macOS wheels are CPU builds
        ("auto", {}, "Windows", _never, ""),
        ("auto", {"PIP_EXTRA_INDEX_URL": "https://x/simple"}, "Linux", _never, ""),
        ("auto", {"PIP_INDEX_URL": "file:///mirror"}, "Linux", _never, ""),
        ("cpu", {}, "Linux", _never, torch_index.CPU_INDEX),
        ("CPU", {}, "Darwin", _never, torch_index.CPU_INDEX),
        ("cuda", {}, "Linux", _never, ""),
        ("pypi", {}, "Linux", _never, ""),
        ("https://download.pytorch.org/whl/cu126", {}, "Linux", _never, "https://download.pytorch.org/whl/cu126"),
    ],
)  # fmt: skip
def test_choose_torch_index(choice, environ, system, probe, expected):
    index, why = torch_index.choose_index(choice, environ, system, probe)
    assert index == expected
    assert why


def test_choose_torch_index_probes_the_torch_page():
    asked = []
    torch_index.choose_index("auto", {}, "Linux", lambda url: asked.append(url) or False)
    assert asked == ["https://download.pytorch.org/whl/cpu/torch/"]


def test_bad_torch_index():
    with pytest.raises(ValueError, match="TORCH_INDEX must be auto, cpu, cuda, pypi or an index"):
        torch_index.choose_index("gpu", {}, "Linux", _never)


def test_unreachable_index_answers_false_quickly():
    # sockets are disabled in the unit tests, so the request fails at once, as offline
    assert torch_index.reachable("https://download.pytorch.org/whl/cpu/torch/", timeout=2) is False


def test_bootstrap_installs_torch_from_the_chosen_index():
    makefile = (REPO_ROOT / "Makefile").read_text()
    assert "tools/torch_index.py" in makefile and "TORCH_INDEX ?= auto" in makefile
    assert "--no-deps --index-url" in makefile  # only torch itself comes from that index
    assert "PIP_EXTRA_INDEX_URL" not in makefile.split("$(STAMP):", 1)[1].split("install:")[0]


# ------------------------------------------------------------------------------ JupyterLab
SETTINGS = REPO_ROOT / "tools" / "jupyterlab" / "overrides.json"
NOTIFICATION = "@jupyterlab/apputils-extension:notification"


def test_jupyterlab_settings_turn_off_news_and_update_checks():
    settings = json.loads(SETTINGS.read_text())
    assert settings[NOTIFICATION]["fetchNews"] == "false"  # a string in JupyterLab 4's schema
    assert settings[NOTIFICATION]["checkForUpdates"] is False


def test_jupyterlab_reads_the_settings(tmp_path):
    """The installed JupyterLab takes them as its defaults, from where the Makefile puts them."""
    from jupyterlab.commands import get_app_dir
    from jupyterlab_server.settings_utils import _get_overrides, get_settings

    makefile = (REPO_ROOT / "Makefile").read_text()
    target = "share/jupyter/lab/settings/overrides.d/transformers-ground-up.json"
    assert f"LAB_SETTINGS := $(VENV)/{target}" in makefile
    app_settings = tmp_path / "settings"
    (app_settings / "overrides.d").mkdir(parents=True)
    (app_settings / "overrides.d" / "transformers-ground-up.json").write_text(SETTINGS.read_text())
    overrides, error = _get_overrides(str(app_settings))
    assert error == ""
    found, _ = get_settings(
        str(app_settings),
        str(Path(get_app_dir()) / "schemas"),
        str(tmp_path / "user"),
        schema_name=NOTIFICATION,
        overrides=overrides,
    )
    properties = found["schema"]["properties"]
    assert properties["fetchNews"]["default"] == "false"
    assert properties["checkForUpdates"]["default"] is False
