"""The ``autotrain`` provider: fine-tune with Hugging Face AutoTrain Advanced, driven safely.

``--model autotrain/BASE`` where BASE is a local model folder (a
``config.json`` saved by ``save_pretrained``) or a Hub id ``org/name``.
``tune`` converts the data, writes and checks a complete ``llm-sft`` config,
runs ``autotrain --config`` from AutoTrain's own environment with live
progress from its log, and judges the result by the files it wrote
(:mod:`.judge`) because AutoTrain exits 0 when training failed. The job
lives in ftdecide's job store like any other; its cost is hardware time on
the chosen backend (:mod:`.hardware`).

The tuned model is served by the hf provider: ``autotrain/<job id>``
answers through it, and so do ``hf/<job id>`` (the run folder carries the hf
plugin's ``metadata.json``) and ``hf/<output folder>``.

Backends (``--backend``): ``local`` trains here; ``spaces-*`` (Hugging Face
Spaces) and ``ep-*`` (Inference Endpoints) are prepared with ``--dry-run``:
config, data and the documented command, after checking the token and the
network with a short timeout. ftdecide does not submit remote runs itself.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
import shutil
import socket
from pathlib import Path
from typing import Any, Mapping, Sequence

import ftdecide
from ftdecide import paths

from . import config as cfg
from . import hardware

AS_OF = _dt.date(2026, 11, 28)
SOURCE = "https://github.com/huggingface/autotrain-advanced (0.8.36, January 2025)"
OPTIONS = ("backend", "dry_run", "merge", "suffix", "autotrain_bin")
HUB_HOST = ("huggingface.co", 443)
NETWORK_TIMEOUT_S = 3.0
TOKEN_ENV = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")
USERNAME_ENV = "HF_USERNAME"
_HUB_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*$")
_JOB_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
NOT_SUBMITTED = ("ftdecide prepares AutoTrain runs on Spaces and Inference Endpoints but does not "
                 "submit them")


def _local_prices() -> dict[str, float]:
    return {name: 0.0 for name in ("input_per_1m", "cached_input_per_1m", "output_per_1m",
                                   "ft_input_per_1m", "ft_cached_input_per_1m",
                                   "ft_output_per_1m")}


def _looks_like_path(spec: str) -> bool:
    return spec.startswith(("/", "./", "../", "~")) or spec in (".", "..")


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


class AutoTrainProvider(ftdecide.Provider):
    """Fine-tuning through AutoTrain Advanced's CLI (``llm-sft``); inference through hf."""

    name = "autotrain"
    runs_locally = True
    uses_validation = False  # AutoTrain 0.8.36 drops a validation file
    options = (
        ftdecide.Option("backend", str, "where AutoTrain trains: local, spaces-<hardware>, "
                        "ep-<instance>", default="local"),
        ftdecide.Option("dry_run", bool, "write the config and data and print the command, "
                        "without training or recording a job", affects_model=False),
        ftdecide.Option("autotrain_bin", str, "the `autotrain` executable (also "
                        "FTDECIDE_AUTOTRAIN_BIN; default: the one `ftdecide autotrain setup` "
                        "made)", affects_model=False),
        ftdecide.Option("merge", bool, "also write the merged model"),
        ftdecide.Option("suffix", str, "the AutoTrain project (output folder) name"),
        ftdecide.Option("learning_rate", float, "learning rate", positive=True,
                        hyperparameter=True, aliases=("lr",)),
        ftdecide.Option("lora_r", int, "LoRA rank", minimum=1, hyperparameter=True),
        ftdecide.Option("max_length", int, "block size in tokens", minimum=8,
                        hyperparameter=True),
    )

    def __init__(self) -> None:
        # The backend of the plan being made: check_tune_options sees the options,
        # estimate_training (called right after by the core) does not.
        self._plan_backend = hardware.LOCAL

    def __repr__(self) -> str:
        return "AutoTrainProvider()"

    # -- models -------------------------------------------------------------------------------
    def catalog(self) -> list[ftdecide.ModelInfo]:
        """No fixed catalog: any local model folder or Hub id is a base (see model_info)."""
        return []

    def _run_record(self, spec: str) -> dict[str, Any] | None:
        if not _JOB_ID_RE.match(spec):
            return None
        from .runner import RECORD_FILE

        return _read_json(paths.runs_dir() / spec / RECORD_FILE)

    def model_info(self, model: str) -> ftdecide.ModelInfo | None:
        """A base (local folder or Hub id) or a finished AutoTrain job (its id)."""
        spec = str(model).strip()
        if not spec:
            return None
        record = self._run_record(spec)
        if record is not None:
            base = record.get("base_model")
            return ftdecide.ModelInfo(
                id=spec, tunable=False, provider=self.name, as_of=AS_OF,
                source=str(paths.runs_dir() / spec),
                context_window=(_context_window(Path(base)) if base and Path(base).is_dir()
                                else None),
                notes=f"AutoTrain fine-tune of {base}, answered through the hf provider "
                      f"(also hf/{spec})", **_local_prices())
        path = Path(spec).expanduser()
        if path.exists() or _looks_like_path(spec):
            folder = self._base_folder(spec)
            return ftdecide.ModelInfo(
                id=spec, tunable=True, provider=self.name, as_of=AS_OF, source=str(folder),
                context_window=_context_window(folder),
                notes=f"local model folder {folder}, fine-tuned with AutoTrain Advanced "
                      f"{cfg.AUTOTRAIN_VERSION}; the cost is hardware time",
                **_local_prices())
        if _HUB_ID_RE.match(spec):
            return ftdecide.ModelInfo(
                id=spec, tunable=True, provider=self.name, as_of=AS_OF,
                source=f"https://huggingface.co/{spec}",
                notes=f"Hugging Face Hub model {spec}, fine-tuned with AutoTrain Advanced "
                      f"{cfg.AUTOTRAIN_VERSION}; the cost is hardware time",
                **_local_prices())
        return None

    @staticmethod
    def _base_folder(spec: str) -> Path:
        path = Path(spec).expanduser()
        if not path.exists():
            raise ftdecide.UsageError(f"no model folder {spec!r}: {path} does not exist",
                                      hint="use autotrain/PATH (a folder with config.json) or "
                                           "autotrain/ORG/NAME (a Hub id)")
        if not path.is_dir() or not (path / "config.json").is_file():
            raise ftdecide.UsageError(f"{spec!r} is not a model folder: {path} has no "
                                      "config.json", hint="point at a folder saved with "
                                      "save_pretrained()")
        return path.resolve()

    def _base(self, spec: str) -> tuple[str, bool, Path | None]:
        """``(base_model as AutoTrain gets it, is local, folder)`` for a base spec."""
        if self._run_record(spec) is not None:
            raise ftdecide.NotTunableError(
                f"autotrain/{spec} is a fine-tuned model; fine-tune its base model instead",
                hint="stacking LoRA adapters is not supported")
        path = Path(spec).expanduser()
        if path.exists() or _looks_like_path(spec):
            folder = self._base_folder(spec)
            return str(folder), True, folder
        if _HUB_ID_RE.match(spec):
            return spec, False, None
        raise ftdecide.UsageError(f"unknown AutoTrain base model {spec!r}",
                                  hint="use autotrain/PATH or autotrain/ORG/NAME")

    # -- inference: through hf ------------------------------------------------------------------
    def _hf(self) -> ftdecide.Provider:
        if not ftdecide.has_provider("hf"):
            raise ftdecide.UsageError(
                "AutoTrain models are answered by the hf provider, which is not loaded",
                hint="install ftdecide-hf-trl (pip install -e plugins/hf-trl), or allow it in "
                     "FTDECIDE_LOAD_PLUGINS")
        return ftdecide.get_provider("hf")

    def _hf_spec(self, model: str) -> str:
        if self._run_record(model) is not None:
            return model  # hf reads <runs dir>/<job id>/metadata.json
        base, _, _ = self._base(model)
        return base

    def complete(self, messages: Sequence[ftdecide.Message], *, model: str,
                 **params: Any) -> ftdecide.Completion:
        """One completion from the tuned (or base) model, through the hf provider."""
        return self._hf().complete(messages, model=self._hf_spec(model), **params)

    def complete_batch(self, batch: Sequence[Sequence[ftdecide.Message]], *, model: str,
                       **params: Any) -> list[ftdecide.Completion]:
        return self._hf().complete_batch(batch, model=self._hf_spec(model), **params)

    # -- tune -----------------------------------------------------------------------------------
    def check_tune_options(self, model: str, *, hyperparameters: Mapping[str, Any],
                           options: Mapping[str, Any]) -> list[str]:
        """Refuse what AutoTrain cannot do here, before any file is written."""
        unknown = sorted(set(options) - set(OPTIONS))
        if unknown:
            raise ftdecide.UsageError(
                f"autotrain does not take {', '.join('--' + u.replace('_', '-') for u in unknown)}",
                hint="AutoTrain options: --backend, --dry-run, --merge, --suffix, "
                     "--autotrain-bin")
        if hyperparameters.get("learning_rate_multiplier") is not None:
            raise ftdecide.UsageError("autotrain takes a learning rate, not a multiplier",
                                      hint="use --lr")
        extra = sorted(k for k, v in hyperparameters.items()
                       if v is not None and k not in cfg.HYPERPARAMETERS)
        if extra:
            raise ftdecide.UsageError(f"autotrain does not take {', '.join(extra)}",
                                      hint="it takes --epochs --lr --batch-size --lora-r "
                                           "--max-length --seed")
        backend = str(options.get("backend") or hardware.LOCAL)
        hardware.entry(backend)
        if options.get("suffix"):
            cfg.project_name("x", options["suffix"])
        _, is_local, _ = self._base(model)
        remote = hardware.is_remote(backend)
        if remote and is_local:
            raise ftdecide.UsageError(
                f"the {backend} backend trains on Hugging Face's machines, which cannot read "
                f"the local folder {model}", hint="use a Hub id: --model autotrain/ORG/NAME")
        if remote and not options.get("dry_run"):
            raise ftdecide.UsageError(
                f"{NOT_SUBMITTED}", hint="add --dry-run: it writes the config and data, checks "
                "your token and the network, and prints the command to run")
        if not remote and not options.get("dry_run"):
            from .env import require_binary

            require_binary(options.get("autotrain_bin"))
        self._plan_backend = backend
        warnings = []
        if remote and not is_local:
            warnings.append(hardware.describe_rate(backend) + "; the hours depend on the run")
        return warnings

    def estimate_training(self, model: str, *, stats: Mapping[str, Any],
                          hyperparameters: Mapping[str, Any]) -> dict[str, Any] | None:
        """Hours and cost on the planned backend; None when the base's size is unknown (Hub)."""
        backend = self._plan_backend
        try:
            _, is_local, folder = self._base(model)
        except ftdecide.FtdecideError:
            return None
        if folder is None:
            return None
        parameters = hardware.count_parameters(folder)
        if not parameters:
            return None
        tokens = stats.get("tokens_total")
        if tokens is None:
            return None
        gpus = int(hardware.entry(backend).get("gpus") or 0)
        epochs = hyperparameters.get("epochs") or (cfg.DEFAULTS["epochs_gpu"] if gpus
                                                   else cfg.DEFAULTS["epochs_cpu"])
        return hardware.estimate(backend, parameters=parameters, tokens_per_epoch=int(tokens),
                                 epochs=epochs,
                                 tokens_source="tiktoken count (an approximation of the "
                                               "model's own tokens)")

    def _prepared(self, request: ftdecide.TuneRequest, *, binary: Path | None):
        from . import runner

        options = dict(request.options or {})
        backend = str(options.get("backend") or hardware.LOCAL)
        base, is_local, folder = self._base(request.model)
        return runner.prepare(
            run_dir=request.run_dir, train_path=request.train_path, base_model=base,
            base_is_local=is_local, project=cfg.project_name(request.job_id, options.get("suffix")),
            backend=backend, hyperparameters=dict(request.hyperparameters or {}), options=options,
            context_window=_context_window(folder) if folder else None, binary=binary,
            validation_path=request.validation_path)

    def prepare(self, request: ftdecide.TuneRequest) -> dict[str, Any]:  # type: ignore[override]
        """``tune --dry-run``: write the config and data into ``request.run_dir``, check them,
        and return the command that would run (nothing is started)."""
        from .env import find_binary

        options = dict(request.options or {})
        backend = str(options.get("backend") or hardware.LOCAL)
        found = None if hardware.is_remote(backend) else find_binary(options.get("autotrain_bin"))
        prepared = self._prepared(request, binary=found[0] if found else None)
        out = prepared.to_dict()
        notes: list[str] = []
        if hardware.is_remote(backend):
            out["preflight"] = preflight()
            notes += out["preflight"]["problems"]
            notes.append(f"{NOT_SUBMITTED}: run the command above with HF_USERNAME and HF_TOKEN "
                         "set; the merged model is pushed to the Hub as "
                         f"<HF_USERNAME>/{prepared.config['project_name']} (then use it as "
                         f"hf/<HF_USERNAME>/{prepared.config['project_name']})")
            out["rate"] = hardware.describe_rate(backend)
        elif found is None:
            notes.append("no AutoTrain environment yet: `ftdecide autotrain setup` creates one "
                         "(or set FTDECIDE_AUTOTRAIN_BIN)")
        out["binary_from"] = found[1] if found else None
        out["notes"] = prepared.warnings + notes
        return out

    def start(self, request: ftdecide.TuneRequest, *,
              progress: ftdecide.ProgressCallback | None = None) -> ftdecide.JobState:
        """Run AutoTrain locally and return when it ends (succeeded or failed)."""
        from . import runner
        from .env import require_binary

        options = dict(request.options or {})
        backend = str(options.get("backend") or hardware.LOCAL)
        if options.get("dry_run"):
            raise ftdecide.UsageError("a dry run does not start a job",
                                      hint="ftdecide tune --dry-run calls prepare()")
        if hardware.is_remote(backend):
            raise ftdecide.UsageError(NOT_SUBMITTED, hint="use --dry-run")
        binary, _ = require_binary(options.get("autotrain_bin"))
        prepared = self._prepared(request, binary=binary)
        return runner.run(prepared, job_id=request.job_id, progress=progress)

    def resume(self, request: ftdecide.TuneRequest, *,
               progress: ftdecide.ProgressCallback | None = None) -> ftdecide.JobState:
        """Train again from the start: AutoTrain 0.8.36 keeps no resumable checkpoint without
        a validation split (save_strategy "no"), so an interrupted run is redone."""
        from . import runner

        work = Path(request.run_dir) / runner.WORK_DIR
        if work.exists():
            shutil.rmtree(work)
        return self.start(request, progress=progress)


def _context_window(folder: Path | None) -> int | None:
    if folder is None:
        return None
    data = _read_json(folder / "config.json")
    value = (data or {}).get("max_position_embeddings")
    return value if isinstance(value, int) else None


def preflight(*, timeout: float = NETWORK_TIMEOUT_S) -> dict[str, Any]:
    """What a remote AutoTrain run needs from here: a token, a user name and the Hub, each
    checked without sending the token anywhere; the network with a short timeout (no hang)."""
    problems = []
    token = next((n for n in TOKEN_ENV if os.environ.get(n)), None)
    if token is None:
        problems.append("HF_TOKEN is not set: AutoTrain needs a Hugging Face write token to "
                        "create the Space or endpoint and push the model")
    user = bool(os.environ.get(USERNAME_ENV))
    if not user:
        problems.append("HF_USERNAME is not set: AutoTrain names the Space and the model repo "
                        "after it")
    try:
        with socket.create_connection(HUB_HOST, timeout=timeout):
            network, detail = True, None
    except OSError as exc:
        network, detail = False, f"{type(exc).__name__}: {exc.strerror or exc}"
        problems.append(f"huggingface.co is not reachable from here ({detail}; checked with a "
                        f"{timeout:g} s timeout): remote backends need the network")
    return {"token": token is not None, "token_variable": token, "username": user,
            "network": network, "network_error": detail, "problems": problems}
