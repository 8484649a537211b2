"""AutoTrain's own environment: finding the ``autotrain`` executable, and creating it.

AutoTrain Advanced 0.8.36 pins transformers 4.48, trl 0.13, peft 0.14 and
accelerate 1.2 (its wheel's METADATA), far behind what ftdecide's hf plugin
uses, so it never shares ftdecide's environment: ftdecide runs its
``autotrain`` executable as a subprocess. Which executable, in this order:

1. ``--autotrain-bin`` (``options["autotrain_bin"]``);
2. ``FTDECIDE_AUTOTRAIN_BIN``;
3. the environment ``ftdecide autotrain setup`` creates:
   ``<ftdecide data dir>/autotrain/venv/bin/autotrain``.

:func:`setup` builds that environment: CPU torch pinned and installed first
(an unpinned torch pulls a multi-GB CUDA build), then
``autotrain-advanced==0.8.36`` without its dependencies, then only what
its LLM fine-tuning imports, at the versions its METADATA pins. Its full
dependency list also pins torchvision-based timm, albumentations, xgboost,
bitsandbytes, fastapi ... that SFT on a CPU never imports; the modules
``autotrain --config`` and ``python -m autotrain.trainers.clm`` import were
read from the 0.8.36 source (the CLI, parser, project, backends and the clm
trainer): accelerate, datasets, huggingface_hub, loguru, pandas, peft,
pydantic, requests, scikit-learn, torch, transformers, trl, PyYAML.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import ftdecide
from ftdecide import paths

BIN_ENV = "FTDECIDE_AUTOTRAIN_BIN"
AUTOTRAIN_VERSION = "0.8.36"
AUTOTRAIN_REQUIREMENT = f"autotrain-advanced=={AUTOTRAIN_VERSION}"
#: ftdecide's own torch pin (Makefile): the CPU build. AutoTrain 0.8.36 and what it pins for
#: LLM training (transformers 4.48, accelerate 1.2.1, peft 0.14, trl 0.13) set no upper bound
#: on torch, so the newest CPU build is accepted; the end-to-end test checks it trains.
TORCH_REQUIREMENT = "torch==2.13.0"
#: Where CPU-only torch wheels live (an extra index: pip takes the +cpu build from it).
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
#: The packages AutoTrain's LLM SFT imports, at the versions autotrain-advanced 0.8.36's
#: METADATA pins (datasets without its [vision] extra: Pillow is for image tasks).
LLM_REQUIREMENTS = (
    "transformers==4.48.0",
    "trl==0.13.0",
    "peft==0.14.0",
    "accelerate==1.2.1",
    "datasets~=3.2.0",
    "huggingface-hub==0.27.0",
    "loguru==0.7.3",
    "pandas==2.2.3",
    "pydantic==2.10.4",
    "pyyaml==6.0.2",
    "requests==2.32.3",
    "scikit-learn==1.6.0",
    "tqdm==4.67.1",
    "sentencepiece==0.2.0",
    "packaging==24.2",
    "einops==0.8.0",
)
MANIFEST = "ftdecide-autotrain-env.json"
PROBE_TIMEOUT_S = 3.0


def env_root() -> Path:
    """``<data dir>/autotrain``: the environment and its manifest."""
    return paths.data_dir() / "autotrain"


def env_dir() -> Path:
    return env_root() / "venv"


def env_binary() -> Path:
    return env_dir() / ("Scripts/autotrain.exe" if os.name == "nt" else "bin/autotrain")


def _usable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def find_binary(explicit: str | os.PathLike[str] | None = None) -> tuple[Path, str] | None:
    """``(path, where)`` of the ``autotrain`` executable to use, or None when there is none.

    ``where`` is ``--autotrain-bin``, ``FTDECIDE_AUTOTRAIN_BIN`` or ``setup``.
    An explicit path or variable that does not point at an executable is an
    error (a typo must not silently fall back to another environment).
    """
    for value, where in ((explicit, "--autotrain-bin"), (os.environ.get(BIN_ENV), BIN_ENV)):
        if value:
            path = Path(value).expanduser()
            if not _usable(path):
                found = shutil.which(str(value)) if os.sep not in str(value) else None
                if found:
                    return Path(found), where
                raise ftdecide.UsageError(
                    f"{where} is {str(value)!r}, which is not an executable file",
                    hint="point it at the `autotrain` executable of an environment with "
                         f"{AUTOTRAIN_REQUIREMENT}, or run `ftdecide autotrain setup`")
            return path.absolute(), where
    binary = env_binary()
    if _usable(binary):
        return binary, "setup"
    return None


def require_binary(explicit: str | os.PathLike[str] | None = None) -> tuple[Path, str]:
    """Like :func:`find_binary`, but a clear :class:`ftdecide.UsageError` when there is none."""
    found = find_binary(explicit)
    if found is None:
        raise ftdecide.UsageError(
            "no AutoTrain environment: AutoTrain Advanced pins old transformers and trl, so it "
            "runs from its own environment, and none was found",
            hint=f"create one with `ftdecide autotrain setup` (CPU torch, "
                 f"{AUTOTRAIN_REQUIREMENT}; into {env_dir()}), or point --autotrain-bin or "
                 f"{BIN_ENV} at an existing `autotrain` executable")
    return found


def python_of(binary: Path) -> Path | None:
    """The Python interpreter of the environment ``binary`` belongs to (its shebang, else a
    ``python`` beside it); None when there is none (a test double, a wrapper script)."""
    try:
        with open(binary, "rb") as f:
            first = f.readline(512).decode("utf-8", "replace").strip()
    except OSError:
        first = ""
    if first.startswith("#!"):
        candidate = Path(first[2:].strip().split()[0]) if first[2:].strip() else None
        if candidate is not None and "python" in candidate.name and _usable(candidate) \
                and (candidate.parent / "autotrain").exists():
            return candidate
    for name in ("python", "python3"):
        sibling = binary.parent / name
        if _usable(sibling):
            return sibling
    return None


def manifest() -> dict[str, Any] | None:
    """What ``setup`` recorded (versions, timings), or None."""
    path = env_root() / MANIFEST
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _reachable(url: str, timeout: float = PROBE_TIMEOUT_S) -> bool:
    """Whether ``url``'s host answers on its port (an unreachable extra index makes pip retry
    five times for every package it looks up there)."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme == "file" or not parts.hostname:
        return True
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname, port), timeout=timeout):
            return True
    except OSError:
        return False


def _run(cmd: list[str], log: Callable[[str], None], *, timeout: float) -> float:
    """Run one setup step, streaming its output to ``log``; returns its seconds."""
    log("$ " + " ".join(cmd))
    started = time.monotonic()
    try:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                bufsize=1, env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
    except OSError as exc:
        raise ftdecide.UsageError(f"cannot run {cmd[0]}: {exc.strerror or exc}") from None
    assert proc.stdout is not None
    tail: list[str] = []
    try:
        for line in proc.stdout:
            line = line.rstrip()
            log(line)
            tail = (tail + [line])[-15:]
        proc.wait(timeout=max(1.0, timeout - (time.monotonic() - started)))
    except subprocess.TimeoutExpired:
        proc.kill()
        raise ftdecide.ProviderError(f"`{shlex.join(cmd[:8])}` took longer than {timeout:.0f} s",
                                     hint="check the network to the package index") from None
    except KeyboardInterrupt:
        proc.kill()
        raise
    if proc.returncode != 0:
        raise ftdecide.ProviderError(
            f"setting up the AutoTrain environment failed at `{shlex.join(cmd[:8])}` "
            f"(exit {proc.returncode}):\n" + "\n".join(tail),
            hint="fix the cause shown, then run `ftdecide autotrain setup --force`")
    return time.monotonic() - started


def setup(*, python: str | None = None, torch: str = TORCH_REQUIREMENT,
          torch_index_url: str | None = TORCH_CPU_INDEX, force: bool = False,
          log: Callable[[str], None] = lambda line: None,
          step_timeout: float = 1800.0) -> dict[str, Any]:
    """Create (or reuse) the AutoTrain environment; returns what :func:`manifest` records.

    ``python``: the interpreter to create it with (default: the one running
    ftdecide); ``torch``: the torch requirement installed first;
    ``torch_index_url``: an extra index with CPU-only torch wheels (None:
    only the configured indexes). An environment that already answers
    ``autotrain --version`` with 0.8.36 is kept unless ``force``.
    """
    root, venv = env_root(), env_dir()
    binary = env_binary()
    if not force and _usable(binary):
        existing = manifest()
        if existing and existing.get("autotrain") == AUTOTRAIN_VERSION:
            log(f"AutoTrain {AUTOTRAIN_VERSION} is already set up in {venv} "
                "(--force rebuilds it)")
            return {**existing, "reused": True}
    if venv.exists():
        shutil.rmtree(venv)
    root.mkdir(parents=True, exist_ok=True)
    (root / MANIFEST).unlink(missing_ok=True)
    interpreter = python or sys.executable
    timings: dict[str, float] = {}
    started = time.monotonic()
    timings["venv"] = _run([interpreter, "-m", "venv", str(venv)], log, timeout=step_timeout)
    vpython = str(venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python"))
    pip = [vpython, "-m", "pip", "install", "--disable-pip-version-check"]
    torch_cmd = pip + [torch]
    if torch_index_url and not _reachable(torch_index_url):
        log(f"{torch_index_url} is not reachable (checked with a {PROBE_TIMEOUT_S:g} s "
            "timeout): installing torch from the configured indexes only")
        torch_index_url = None
    if torch_index_url:
        torch_cmd += ["--extra-index-url", torch_index_url]
    timings["torch"] = _run(torch_cmd, log, timeout=step_timeout)
    timings["autotrain"] = _run(pip + ["--no-deps", AUTOTRAIN_REQUIREMENT], log,
                                timeout=step_timeout)
    timings["dependencies"] = _run(pip + list(LLM_REQUIREMENTS), log, timeout=step_timeout)
    log("(pip's notes that autotrain-advanced's other requirements are not installed are "
        "expected: only what its LLM fine-tuning imports is)")
    check = ("import json, importlib.metadata as m, torch, trl, peft, transformers, "
             "autotrain.trainers.clm.train_clm_sft\n"
             "names = ['autotrain-advanced', 'torch', 'transformers', 'trl', 'peft', "
             "'accelerate', 'datasets']\n"
             "print(json.dumps({n: m.version(n) for n in names} | "
             "{'cuda': torch.cuda.is_available()}))")
    proc = subprocess.run([vpython, "-c", check], capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise ftdecide.ProviderError(
            "the AutoTrain environment was installed but its LLM trainer does not import:\n"
            + "\n".join(proc.stderr.strip().splitlines()[-10:]),
            hint="run `ftdecide autotrain setup --force`, or report the versions above")
    versions = json.loads(proc.stdout.strip().splitlines()[-1])
    if "+cpu" not in str(versions.get("torch")) and not versions.get("cuda"):
        log(f"note: torch {versions.get('torch')} is not the +cpu build; if it pulled CUDA "
            "libraries, rebuild with --torch-index-url pointing at CPU wheels")
    timings["check"] = round(time.monotonic() - started - sum(timings.values()), 1)
    if versions.get("autotrain-advanced") != AUTOTRAIN_VERSION or not _usable(binary):
        raise ftdecide.ProviderError(
            f"the AutoTrain environment has {versions.get('autotrain-advanced')} instead of "
            f"{AUTOTRAIN_VERSION}, or no autotrain executable", hint="run with --force")
    record = {
        "autotrain": AUTOTRAIN_VERSION,
        "binary": str(binary),
        "python": vpython,
        "versions": versions,
        "torch_requirement": torch,
        "torch_index_url": torch_index_url,
        "requirements": list(LLM_REQUIREMENTS),
        "seconds": {k: round(v, 1) for k, v in timings.items()},
        "total_s": round(time.monotonic() - started, 1),
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    (root / MANIFEST).write_text(json.dumps(record, indent=2), encoding="utf-8")
    return {**record, "reused": False}
