"""The AutoTrain ``llm-sft`` config and data: built from a tune request, checked before a run.

Everything here mirrors AutoTrain Advanced 0.8.36 as read from its source
(the PyPI wheel; these files are identical in huggingface/autotrain-advanced
at b5c98fbe3aab61101e9c8f7f6c64407cbb68e400):

- ``src/autotrain/parser.py`` (``AutoTrainConfigParser``): the YAML keys.
  ``task``, ``backend``, ``base_model``, ``project_name``, ``log`` and
  ``data: {path, train_split, valid_split, chat_template, column_mapping}``
  are read with ``config[...]`` (a missing one is a KeyError, so all are
  written, ``valid_split: null`` included); ``hub`` is optional but, when
  present, needs ``username``, ``token`` and ``push_to_hub``, and a value
  ``${NAME}`` is read from the environment variable NAME (so a token is never
  written into the file); ``params`` is merged over the rest.
- ``src/autotrain/trainers/clm/params.py`` (``LLMTrainingParams``): the
  fields and types of ``params`` (:data:`LLM_PARAMS`). AutoTrain only warns
  about an unknown key ("Parameters supplied but not used"); here it is an
  error, so a misspelled setting never silently falls back to a default.
- ``src/autotrain/trainers/common.py`` (``AutoTrainParams.__init__``):
  ``project_name`` is letters, digits and ``-``, at most 50 characters (it is
  also the output folder, relative to the working directory).
- ``src/autotrain/backends/base.py`` (``AVAILABLE_HARDWARE``): the backends.
- ``src/autotrain/project.py`` (``llm_munge_data``): local data is
  ``<data.path>/<train_split>.jsonl`` (or ``.csv``); ``column_mapping:
  {text_column: messages}`` names the column; after preparing it AutoTrain
  sets ``valid_split = None``, so a validation file is ignored in 0.8.36.
- ``src/autotrain/trainers/clm/utils.py``: ``chat_template: tokenizer``
  applies the base model's own template to each ``messages`` list (or
  AutoTrain's ChatML-like ``DEFAULT_CHAT_TEMPLATE`` when it has none);
  ``chatml``/``zephyr`` add special tokens and resize the embeddings, which
  the base model's folder then no longer matches, so ftdecide uses
  ``tokenizer``. ``quantization: int4/int8`` loads through bitsandbytes
  (CUDA only) and ``mixed_precision`` sets fp16/bf16 training args, while
  ``src/autotrain/commands.py`` launches ``accelerate launch --cpu`` without
  a GPU: on a CPU both must be null.

Data: chat JSONL (one ``{"messages": [{"role", "content"}, ...]}`` per line),
because a ``messages`` column survives pandas' ``read_json(lines=True)`` as
lists of dicts; in a CSV it would be a string that AutoTrain turns back with
``ast.literal_eval``.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, Mapping

import ftdecide

from . import hardware

AUTOTRAIN_VERSION = "0.8.36"
TASK = "llm-sft"
DATA_DIR = "data"
TRAIN_SPLIT = "train"
CONFIG_FILE = "config.yml"
TEXT_COLUMN = "messages"
CHAT_TEMPLATE = "tokenizer"
PROJECT_NAME_MAX = 50
_PROJECT_RE = re.compile(r"^[A-Za-z0-9-]+$")
ROLES = ("system", "user", "assistant")

_OPT_STR = (str, type(None))
_OPT_INT = (int, type(None))

#: ``LLMTrainingParams`` of autotrain-advanced 0.8.36 (src/autotrain/trainers/clm/params.py):
#: field -> (accepted Python types, AutoTrain's default).
LLM_PARAMS: dict[str, tuple[tuple[type, ...], Any]] = {
    "model": ((str,), "gpt2"),
    "project_name": ((str,), "project-name"),
    "data_path": ((str,), "data"),
    "train_split": ((str,), "train"),
    "valid_split": (_OPT_STR, None),
    "add_eos_token": ((bool,), True),
    "block_size": ((int, list), -1),
    "model_max_length": ((int,), 2048),
    "padding": (_OPT_STR, "right"),
    "trainer": ((str,), "default"),
    "use_flash_attention_2": ((bool,), False),
    "log": ((str,), "none"),
    "disable_gradient_checkpointing": ((bool,), False),
    "logging_steps": ((int,), -1),
    "eval_strategy": ((str,), "epoch"),
    "save_total_limit": ((int,), 1),
    "auto_find_batch_size": ((bool,), False),
    "mixed_precision": (_OPT_STR, None),
    "lr": ((float, int), 3e-5),
    "epochs": ((int,), 1),
    "batch_size": ((int,), 2),
    "warmup_ratio": ((float, int), 0.1),
    "gradient_accumulation": ((int,), 4),
    "optimizer": ((str,), "adamw_torch"),
    "scheduler": ((str,), "linear"),
    "weight_decay": ((float, int), 0.0),
    "max_grad_norm": ((float, int), 1.0),
    "seed": ((int,), 42),
    "chat_template": (_OPT_STR, None),
    "quantization": (_OPT_STR, "int4"),
    "target_modules": (_OPT_STR, "all-linear"),
    "merge_adapter": ((bool,), False),
    "peft": ((bool,), False),
    "lora_r": ((int,), 16),
    "lora_alpha": ((int,), 32),
    "lora_dropout": ((float, int), 0.05),
    "model_ref": (_OPT_STR, None),
    "dpo_beta": ((float, int), 0.1),
    "max_prompt_length": ((int,), 128),
    "max_completion_length": (_OPT_INT, None),
    "prompt_text_column": (_OPT_STR, None),
    "text_column": ((str,), "text"),
    "rejected_text_column": (_OPT_STR, None),
    "push_to_hub": ((bool,), False),
    "username": (_OPT_STR, None),
    "token": (_OPT_STR, None),
    "unsloth": ((bool,), False),
    "distributed_backend": (_OPT_STR, None),
}

#: Fields the parser fills from the top-level keys (parser.py ``_parse_config``), not ``params``.
FROM_TOP_LEVEL = ("model", "project_name", "data_path", "chat_template", "train_split",
                  "valid_split", "log", "username", "token", "push_to_hub", "trainer")
#: ``task`` aliases of the lm_training family (parser.py ``task_aliases``) and their trainer.
LLM_TASKS = {"llm": "default", "llm-sft": "sft", "llm-orpo": "orpo", "llm-generic": "default",
             "llm-dpo": "dpo", "llm-reward": "reward"}
#: Allowed values (utils.py get_tokenizer / configure_training_args / get_model).
CHOICES = {
    "chat_template": (None, "tokenizer", "chatml", "zephyr"),
    "padding": (None, "left", "right"),
    "mixed_precision": (None, "fp16", "bf16"),
    "quantization": (None, "int4", "int8"),
    "log": ("none", "tensorboard", "wandb"),
    "distributed_backend": (None, "ddp", "deepspeed"),
}

#: ftdecide's defaults where AutoTrain's do not suit LoRA SFT (AutoTrain: lr 3e-5, peft off,
#: int4 quantization, gradient accumulation 4, logging every ~20% of an epoch).
DEFAULTS = {"lr": 2e-4, "batch_size": 2, "lora_r": 16, "seed": 42, "block_size": 1024,
            "epochs_cpu": 1, "epochs_gpu": 3}
HYPERPARAMETERS = ("epochs", "learning_rate", "batch_size", "lora_r", "max_length", "seed")


def project_name(job_id: str, suffix: str | None = None) -> str:
    """AutoTrain's project (and output folder) name: the suffix, else the job id, made valid."""
    name = re.sub(r"[^A-Za-z0-9-]+", "-", suffix or job_id).strip("-")[:PROJECT_NAME_MAX]
    if not name:
        raise ftdecide.UsageError(f"cannot make an AutoTrain project name of {suffix or job_id!r}",
                                  hint="use letters, digits and '-' (at most 50)")
    return name


def gpu_precision(backend: str) -> str | None:
    """The mixed precision AutoTrain should use on ``backend``: fp16 on T4s, bf16 on newer GPUs."""
    e = hardware.entry(backend)
    if not e.get("gpus"):
        return None
    return "fp16" if "T4" in e["hardware"] else "bf16"


def build(*, base_model: str, project: str, data_dir: str | os.PathLike[str], backend: str,
          hyperparameters: Mapping[str, Any], options: Mapping[str, Any],
          context_window: int | None = None) -> dict[str, Any]:
    """A complete ``llm-sft`` config for AutoTrain 0.8.36 (see the module doc for every key).

    ``hyperparameters`` are the user's (``epochs``, ``learning_rate``,
    ``batch_size``, ``lora_r``, ``max_length``, ``seed``); ``options``:
    ``merge`` (AutoTrain's ``merge_adapter``).
    """
    hp = dict(hyperparameters)
    gpus = int(hardware.entry(backend).get("gpus") or 0)
    remote = hardware.is_remote(backend)
    on_gpu = gpus > 0
    block = int(hp.get("max_length") or min(context_window or DEFAULTS["block_size"],
                                            DEFAULTS["block_size"]))
    if context_window:
        block = min(block, context_window)
    lora_r = int(hp.get("lora_r") or DEFAULTS["lora_r"])
    params: dict[str, Any] = {
        "block_size": block,
        "model_max_length": max(block, context_window or block),
        "add_eos_token": True,
        "padding": "right",
        "epochs": int(hp.get("epochs")
                      or (DEFAULTS["epochs_gpu"] if on_gpu else DEFAULTS["epochs_cpu"])),
        "batch_size": int(hp.get("batch_size") or DEFAULTS["batch_size"]),
        "lr": float(hp.get("learning_rate") or DEFAULTS["lr"]),
        "gradient_accumulation": 1,
        "warmup_ratio": 0.1,
        "weight_decay": 0.0,
        "max_grad_norm": 1.0,
        "optimizer": "adamw_torch",
        "scheduler": "linear",
        "seed": int(hp["seed"]) if hp.get("seed") is not None else DEFAULTS["seed"],
        "logging_steps": 1,
        "save_total_limit": 1,
        "peft": True,
        "lora_r": lora_r,
        "lora_alpha": 2 * lora_r,
        "lora_dropout": 0.05,
        "target_modules": "all-linear",
        # int4 (QLoRA) needs bitsandbytes on CUDA; fp16/bf16 need a GPU (module doc)
        "quantization": "int4" if on_gpu else None,
        "mixed_precision": gpu_precision(backend),
        # on a CPU checkpointing only costs time; on a GPU it saves the memory AutoTrain expects
        "disable_gradient_checkpointing": not on_gpu,
        # remote runs push a merged model (usable as hf/USER/PROJECT); locally the adapter is kept
        "merge_adapter": bool(options.get("merge", remote)),
        "unsloth": False,
        "use_flash_attention_2": False,
        "auto_find_batch_size": False,
    }
    config: dict[str, Any] = {
        "task": TASK,
        "base_model": base_model,
        "project_name": project,
        "log": "none",
        "backend": backend,
        "data": {
            "path": str(data_dir),
            "train_split": TRAIN_SPLIT,
            "valid_split": None,
            "chat_template": CHAT_TEMPLATE,
            "column_mapping": {"text_column": TEXT_COLUMN},
        },
        "params": params,
    }
    if remote:
        # parser.py reads ${NAME} from the environment when it runs: no secret in the file
        config["hub"] = {"username": "${HF_USERNAME}", "token": "${HF_TOKEN}",
                         "push_to_hub": True}
    return config


def validate(config: Mapping[str, Any], *, data_must_exist: bool = True) -> list[str]:
    """Check ``config`` as AutoTrain 0.8.36 would read it, and stricter; returns warnings.

    Raises :class:`ftdecide.UsageError` naming the key and what is wrong.
    """
    def bad(key: str, why: str) -> ftdecide.UsageError:
        return ftdecide.UsageError(f"AutoTrain config: {key} {why}",
                                   hint="this is a bug in ftdecide-autotrain if ftdecide wrote "
                                   "the config; please report it")

    if not isinstance(config, Mapping):
        raise bad("(top level)", "must be a mapping")
    for key in ("task", "backend", "base_model", "project_name", "log", "data"):
        if key not in config:
            raise bad(key, "is missing (AutoTrain reads it with config[...])")
    allowed_top = {"task", "backend", "base_model", "project_name", "log", "data", "params", "hub"}
    extra = sorted(set(config) - allowed_top)
    if extra:
        raise bad(", ".join(extra), "is not an AutoTrain config key")
    task = config["task"]
    if task not in LLM_TASKS:
        raise bad("task", f"must be one of {', '.join(LLM_TASKS)} for an LLM, got {task!r}")
    if task != TASK:
        raise bad("task", f"is {task!r}; ftdecide drives supervised fine-tuning ({TASK})")
    backend = config["backend"]
    if not isinstance(backend, str):
        raise bad("backend", "must be a string")
    hardware.entry(backend)
    for key in ("base_model", "project_name", "log"):
        if not isinstance(config[key], str) or not config[key]:
            raise bad(key, "must be a non-empty string")
    name = config["project_name"]
    if not _PROJECT_RE.match(name) or len(name) > PROJECT_NAME_MAX:
        raise bad("project_name", f"must be letters, digits and '-', at most {PROJECT_NAME_MAX} "
                  f"characters (AutoTrainParams), got {name!r}")
    if config["log"] not in CHOICES["log"]:
        raise bad("log", f"must be one of {', '.join(CHOICES['log'])}")

    data = config["data"]
    if not isinstance(data, Mapping):
        raise bad("data", "must be a mapping")
    for key in ("path", "train_split", "valid_split", "chat_template", "column_mapping"):
        if key not in data:
            raise bad(f"data.{key}", "is missing (AutoTrain reads it with config['data'][...])")
    extra = sorted(set(data) - {"path", "train_split", "valid_split", "chat_template",
                                "column_mapping"})
    if extra:
        raise bad("data." + ", data.".join(extra), "is not an AutoTrain data key")
    if data["chat_template"] not in CHOICES["chat_template"]:
        raise bad("data.chat_template", f"must be one of {CHOICES['chat_template']}")
    mapping = data["column_mapping"]
    if not isinstance(mapping, Mapping) or "text_column" not in mapping:
        raise bad("data.column_mapping", "must be a mapping with text_column")
    for key, value in mapping.items():
        if key not in ("text_column", "prompt_text_column", "rejected_text_column"):
            raise bad(f"data.column_mapping.{key}", "is not a column of LLMTrainingParams")
        if not isinstance(value, str) or not value:
            raise bad(f"data.column_mapping.{key}", "must be a column name")
    if not isinstance(data["train_split"], str) or not data["train_split"]:
        raise bad("data.train_split", "must be a split name")
    warnings: list[str] = []
    if data["valid_split"] is not None:
        warnings.append("AutoTrain 0.8.36 ignores a local validation split (llm_munge_data sets "
                        "valid_split to None)")
    path = Path(str(data["path"]))
    remote = hardware.is_remote(backend)
    if data_must_exist and (path.is_absolute() or remote or path.exists()):
        local_file = path / f"{data['train_split']}.jsonl"
        if not local_file.is_file() and not (path / f"{data['train_split']}.csv").is_file():
            raise bad("data.path", f"has no {data['train_split']}.jsonl or .csv ({path})")

    hub = config.get("hub")
    if hub is not None:
        if not isinstance(hub, Mapping) or any(k not in hub for k in ("username", "token",
                                                                        "push_to_hub")):
            raise bad("hub", "needs username, token and push_to_hub")
        token = hub["token"]
        from_env = isinstance(token, str) and token.startswith("${") and token.endswith("}")
        if isinstance(token, str) and token and not from_env:
            raise bad("hub.token", "must be ${HF_TOKEN} (read from the environment), never the "
                      "token itself")
    if remote and (hub is None or not hub.get("username")):
        raise bad("hub.username", f"is needed by the {backend} backend (BaseBackend: 'Must "
                  "provide username')")

    params = config.get("params") or {}
    if not isinstance(params, Mapping):
        raise bad("params", "must be a mapping")
    for key, value in params.items():
        if key not in LLM_PARAMS:
            raise bad(f"params.{key}", "is not a field of LLMTrainingParams")
        if key in FROM_TOP_LEVEL:
            raise bad(f"params.{key}", "is set from the top-level keys; set it there")
        types, _ = LLM_PARAMS[key]
        if isinstance(value, bool) and bool not in types:
            raise bad(f"params.{key}", f"must be {types[0].__name__}, got a boolean")
        if not isinstance(value, types):
            raise bad(f"params.{key}", f"must be {' or '.join(t.__name__ for t in types)}, "
                      f"got {value!r}")
        if key in CHOICES and value not in CHOICES[key]:
            raise bad(f"params.{key}", f"must be one of {CHOICES[key]}, got {value!r}")
    for key in ("epochs", "batch_size", "lora_r", "lora_alpha", "gradient_accumulation",
                "logging_steps", "model_max_length"):
        if key in params and params[key] < 1:
            raise bad(f"params.{key}", f"must be at least 1, got {params[key]!r}")
    if "lr" in params and not params["lr"] > 0:
        raise bad("params.lr", "must be above 0")
    block = params.get("block_size", -1)
    if isinstance(block, int) and block != -1 and block < 8:
        raise bad("params.block_size", f"must be -1 or at least 8, got {block}")
    gpus = int(hardware.entry(backend).get("gpus") or 0)
    if gpus == 0:
        for key in ("quantization", "mixed_precision"):
            if params.get(key, LLM_PARAMS[key][1]) is not None:
                raise bad(f"params.{key}", f"must be null on {backend} (no GPU: bitsandbytes and "
                          "fp16/bf16 need CUDA; AutoTrain launches `accelerate launch --cpu`)")
    return warnings


def write(config: Mapping[str, Any], path: str | os.PathLike[str]) -> Path:
    """Write ``config`` as YAML (keys in AutoTrain's own order) and return the path."""
    import yaml

    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    text = ("# AutoTrain Advanced 0.8.36 config written by ftdecide (ftdecide-autotrain)\n"
            + yaml.safe_dump(dict(config), sort_keys=False, allow_unicode=True))
    tmp = out.with_name(out.name + ".part")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, out)
    return out


def read(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a config back as AutoTrain does (``yaml.safe_load``)."""
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ftdecide.UsageError(f"cannot read the AutoTrain config {path}: {exc}") from None
    if not isinstance(data, dict):
        raise ftdecide.UsageError(f"the AutoTrain config {path} is not a mapping")
    return data


def write_data(chat_jsonl: str | os.PathLike[str], data_dir: str | os.PathLike[str]
               ) -> dict[str, Any]:
    """Write the training set as AutoTrain reads it: ``<data_dir>/train.jsonl``, ``messages`` only.

    Each message keeps ``role`` and ``content`` (a string; text parts are
    joined). ``weight`` and ``name`` keys are dropped (AutoTrain trains every
    token of a packed sequence, so a per-message weight cannot be honoured);
    a role other than system/user/assistant (tool calls) is a DataError with
    its line. Returns ``{"path", "examples", "dropped_weights"}``.
    """
    src = Path(chat_jsonl)
    out_dir = Path(data_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"{TRAIN_SPLIT}.jsonl"
    tmp = out.with_name(out.name + ".part")
    examples = 0
    weights = 0
    with open(src, encoding="utf-8") as f, open(tmp, "w", encoding="utf-8", newline="\n") as w:
        for line_no, line in enumerate(f, 1):
            if not line.strip():
                continue
            record = json.loads(line)
            messages = []
            for m in record["messages"]:
                role = m.get("role")
                if role not in ROLES:
                    raise ftdecide.DataError(
                        f"AutoTrain's SFT trains on system/user/assistant messages; this "
                        f"example has a {role!r} message", path=str(src), line=line_no,
                        hint="drop tool calls and tool messages from the training set")
                if m.get("tool_calls") or m.get("function_call"):
                    raise ftdecide.DataError(
                        "AutoTrain's SFT cannot train tool calls", path=str(src), line=line_no,
                        hint="drop tool calls from the training set")
                if "weight" in m:
                    weights += 1
                messages.append({"role": role, "content": ftdecide.content_text(m.get("content"))})
            w.write(json.dumps({TEXT_COLUMN: messages}, ensure_ascii=False) + "\n")
            examples += 1
    os.replace(tmp, out)
    if examples == 0:
        raise ftdecide.DataError("the training set has no examples", path=str(src))
    return {"path": str(out), "examples": examples, "dropped_weights": weights}


