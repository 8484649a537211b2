"""Finding the ``autotrain`` executable, and what ``ftdecide autotrain setup`` installs in what order.

The setup test runs against ``FAKE_PYTHON``, a test double of an external
program (a Python interpreter with pip): it records every command it is
given and creates the files a real ``python -m venv`` / ``pip install`` would
leave (``bin/python``, ``bin/autotrain``), so what is checked is ftdecide's
sequence: CPU torch pinned and installed first, AutoTrain without its
dependencies, then only the LLM packages at AutoTrain's pins, never
torchvision or timm. The real installation is exercised by ``ftdecide
autotrain setup`` itself (see README) and the end-to-end test.
"""

from __future__ import annotations

import json
import os
import stat
import sys

import pytest

import ftdecide
from ftdecide_autotrain import env

FAKE_PYTHON = r'''
import json, os, shutil, sys
from pathlib import Path
log = Path(os.environ["FAKE_PY_LOG"])
calls = json.loads(log.read_text()) if log.exists() else []
calls.append(sys.argv[1:])
log.write_text(json.dumps(calls))
args = sys.argv[1:]
here = Path(sys.argv[0]).resolve()
if args[:2] == ["-m", "venv"]:
    bin_dir = Path(args[2]) / "bin"
    bin_dir.mkdir(parents=True)
    shutil.copy(here, bin_dir / "python")
    (bin_dir / "python").chmod(0o755)
elif args[:3] == ["-m", "pip", "install"]:
    if os.environ.get("FAKE_PY_FAIL") and os.environ["FAKE_PY_FAIL"] in args:
        print("ERROR: No matching distribution found for " + os.environ["FAKE_PY_FAIL"])
        sys.exit(1)
    print("Successfully installed " + " ".join(a for a in args[3:] if not a.startswith("-")))
    if "autotrain-advanced==0.8.36" in args:
        script = here.parent / "autotrain"
        script.write_text("#!" + str(here.parent / "python") + "\n")
        script.chmod(0o755)
elif args[:1] == ["-c"]:
    print(json.dumps({"autotrain-advanced": "0.8.36", "torch": "2.13.0+cpu",
                      "transformers": "4.48.0", "trl": "0.13.0", "peft": "0.14.0",
                      "accelerate": "1.2.1", "datasets": "3.2.0", "cuda": False}))
'''


@pytest.fixture
def fake_python(tmp_path, monkeypatch):
    path = tmp_path / "fake-python"
    path.write_text(f"#!{sys.executable}\n{FAKE_PYTHON}")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    log = tmp_path / "calls.json"
    monkeypatch.setenv("FAKE_PY_LOG", str(log))
    return path, log


def test_setup_installs_cpu_torch_first_and_only_what_llm_sft_needs(fake_python, monkeypatch):
    python, log = fake_python
    monkeypatch.setattr(env, "_reachable", lambda url, timeout=3.0: True)
    lines: list[str] = []
    result = env.setup(python=str(python), log=lines.append)
    calls = json.loads(log.read_text())
    assert calls[0] == ["-m", "venv", str(env.env_dir())]
    installs = [c for c in calls if c[:3] == ["-m", "pip", "install"]]
    assert installs[0][-3:] == ["torch==2.13.0", "--extra-index-url",
                                "https://download.pytorch.org/whl/cpu"]
    assert installs[1][-2:] == ["--no-deps", "autotrain-advanced==0.8.36"]
    assert installs[2][-len(env.LLM_REQUIREMENTS):] == list(env.LLM_REQUIREMENTS)
    everything = " ".join(" ".join(c) for c in installs)
    for absent in ("torchvision", "timm", "bitsandbytes", "xgboost", "albumentations"):
        assert absent not in everything
    assert all("==" in r or "~=" in r for r in env.LLM_REQUIREMENTS)
    assert any(line.startswith("$ ") and "torch==2.13.0" in line for line in lines)
    assert result["reused"] is False and result["versions"]["transformers"] == "4.48.0"
    assert env.manifest()["autotrain"] == "0.8.36"
    assert env.find_binary() == (env.env_binary(), "setup")
    # a second setup reuses it; --force rebuilds it
    n = len(calls)
    assert env.setup(python=str(python))["reused"] is True
    assert len(json.loads(log.read_text())) == n
    assert env.setup(python=str(python), force=True)["reused"] is False


def test_a_failed_step_says_which_and_why(fake_python, monkeypatch):
    python, _ = fake_python
    monkeypatch.setattr(env, "_reachable", lambda url, timeout=3.0: False)
    monkeypatch.setenv("FAKE_PY_FAIL", "trl==0.13.0")
    with pytest.raises(ftdecide.ProviderError) as info:
        env.setup(python=str(python))
    assert "No matching distribution found for trl==0.13.0" in info.value.message
    assert "--force" in info.value.hint
    assert env.manifest() is None


def test_find_binary_order(tmp_path, monkeypatch):
    monkeypatch.delenv(env.BIN_ENV, raising=False)
    assert env.find_binary() is None
    with pytest.raises(ftdecide.UsageError, match="no AutoTrain environment"):
        env.require_binary()
    exe = tmp_path / "bin" / "autotrain"
    exe.parent.mkdir()
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    monkeypatch.setenv(env.BIN_ENV, str(exe))
    assert env.find_binary() == (exe, env.BIN_ENV)
    other = tmp_path / "other"
    other.write_text("#!/bin/sh\n")
    other.chmod(0o755)
    assert env.find_binary(str(other)) == (other, "--autotrain-bin")
    not_exe = tmp_path / "plain"
    not_exe.write_text("x")
    with pytest.raises(ftdecide.UsageError, match="--autotrain-bin is .* not an executable"):
        env.find_binary(str(not_exe))
    monkeypatch.setenv(env.BIN_ENV, str(tmp_path / "missing"))
    with pytest.raises(ftdecide.UsageError, match="FTDECIDE_AUTOTRAIN_BIN"):
        env.find_binary()


def test_python_of_an_environment(tmp_path):
    bin_dir = tmp_path / "venv" / "bin"
    bin_dir.mkdir(parents=True)
    python = bin_dir / "python"
    python.symlink_to(sys.executable)
    exe = bin_dir / "autotrain"
    exe.write_text(f"#!{python}\nimport sys\n")
    exe.chmod(0o755)
    assert env.python_of(exe) == python
    lone = tmp_path / "lone" / "autotrain"
    lone.parent.mkdir()
    lone.write_text("#!/bin/sh\nexit 0\n")
    lone.chmod(0o755)
    assert env.python_of(lone) is None
    assert os.access(exe, os.X_OK)


def test_an_unreachable_cpu_index_is_left_out(fake_python):
    """No five retries per package against an index that does not answer (a closed port)."""
    import socket

    python, log = fake_python
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    lines: list[str] = []
    env.setup(python=str(python), torch_index_url=f"http://127.0.0.1:{port}/whl/cpu",
              log=lines.append)
    torch_install = [c for c in json.loads(log.read_text()) if "torch==2.13.0" in c][0]
    assert "--extra-index-url" not in torch_install
    assert any("is not reachable" in line for line in lines)
