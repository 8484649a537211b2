"""The llm-sft config and data ftdecide writes, checked against AutoTrain 0.8.36's own source.

``tests/data/autotrain-0.8.36/`` holds unmodified copies of AutoTrain's
``trainers/clm/params.py`` (LLMTrainingParams), ``parser.py``
(AutoTrainConfigParser) and ``backends/base.py`` (AVAILABLE_HARDWARE); they
are read with ``ast`` here, so the mirror in ``ftdecide_autotrain.config``
cannot drift from them unnoticed. (With an AutoTrain environment present,
``test_real_autotrain.py`` also has AutoTrain itself read the config.)
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ftdecide
from ftdecide_autotrain import config as cfg
from ftdecide_autotrain import hardware

SOURCE = Path(__file__).parent / "data" / "autotrain-0.8.36"


def _class_fields(path: Path, cls: str) -> dict[str, tuple[str, object]]:
    """``{field: (annotation source, default)}`` of a pydantic class, from its source."""
    tree = ast.parse(path.read_text())
    node = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == cls)
    out = {}
    for item in node.body:
        if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
            call = item.value
            assert isinstance(call, ast.Call) and call.func.id == "Field"
            out[item.target.id] = (ast.unparse(item.annotation), ast.literal_eval(call.args[0]))
    return out


def _parser_keys() -> tuple[set[str], set[str], dict[str, str]]:
    """Top-level and data keys ``AutoTrainConfigParser`` reads with ``config[...]``, and its
    task aliases."""
    tree = ast.parse((SOURCE / "parser.py").read_text())
    top, data = set(), set()
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
            inner = node.value
            if ast.unparse(inner) == "self.config":
                top.add(node.slice.value)
            elif ast.unparse(inner) == "self.config['data']":
                data.add(node.slice.value)
        if isinstance(node, ast.Assign) and ast.unparse(node.targets[0]) == "self.task_aliases":
            aliases = ast.literal_eval(node.value)
    return top, data, aliases


def _available_hardware() -> dict[str, object]:
    tree = ast.parse((SOURCE / "backends_base.py").read_text())
    node = next(n for n in tree.body if isinstance(n, ast.Assign)
                and ast.unparse(n.targets[0]) == "AVAILABLE_HARDWARE")
    return ast.literal_eval(node.value)


TYPE_OF_ANNOTATION = {"str": (str,), "bool": (bool,), "int": (int,), "float": (float, int),
                      "Optional[str]": cfg._OPT_STR, "Optional[int]": cfg._OPT_INT,
                      "Union[int, List[int]]": (int, list)}


def test_params_mirror_llmtrainingparams_exactly():
    fields = _class_fields(SOURCE / "params.py", "LLMTrainingParams")
    assert set(cfg.LLM_PARAMS) == set(fields)
    for name, (annotation, default) in fields.items():
        types, mirrored_default = cfg.LLM_PARAMS[name]
        assert mirrored_default == default, name
        assert types == TYPE_OF_ANNOTATION[annotation], (name, annotation)


def _local_config(tmp_path: Path, **hp) -> dict:
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    (data / "train.jsonl").write_text('{"messages": []}\n')
    return cfg.build(base_model=str(tmp_path / "base"), project="ft-20261128-abc123",
                     data_dir=data, backend="local", hyperparameters=hp, options={},
                     context_window=128)


def test_config_has_every_key_the_parser_reads(tmp_path):
    top, data_keys, aliases = _parser_keys()
    config = _local_config(tmp_path)
    # read with config[...]: a KeyError when missing ("hub" only under `if "hub" in config`)
    assert top == {"task", "base_model", "project_name", "data", "log", "hub"}
    for key in top - {"hub"}:
        assert key in config, key
    assert config["backend"] == "local"    # .get("backend"), then "Backend is required"
    assert data_keys == set(config["data"])
    assert aliases[config["task"]] == "lm_training"
    assert cfg.LLM_TASKS[config["task"]] == "sft"
    # params: only LLMTrainingParams fields, none the parser fills from the top level
    assert set(config["params"]) <= set(cfg.LLM_PARAMS)
    assert not set(config["params"]) & set(cfg.FROM_TOP_LEVEL)
    assert set(config["data"]["column_mapping"]) <= set(cfg.LLM_PARAMS)
    assert cfg.validate(config) == []


def test_every_backend_is_autotrains_own():
    available = _available_hardware()
    names = hardware.backend_names()
    assert set(names) <= set(available)
    assert {b for b in available if b.startswith(("spaces-", "ep-"))} | {"local"} == set(names)


def test_local_cpu_config_values(tmp_path):
    config = _local_config(tmp_path, epochs=2, learning_rate=5e-3, batch_size=4, lora_r=8,
                           max_length=64, seed=7)
    p = config["params"]
    assert config["data"] == {"path": str(tmp_path / "data"), "train_split": "train",
                              "valid_split": None, "chat_template": "tokenizer",
                              "column_mapping": {"text_column": "messages"}}
    assert (p["epochs"], p["lr"], p["batch_size"], p["lora_r"], p["lora_alpha"],
            p["block_size"], p["seed"]) == (2, 5e-3, 4, 8, 16, 64, 7)
    assert p["peft"] is True and p["target_modules"] == "all-linear"
    # a CPU: no bitsandbytes, no fp16/bf16 (AutoTrain launches `accelerate launch --cpu`)
    assert p["quantization"] is None and p["mixed_precision"] is None
    assert p["merge_adapter"] is False and "hub" not in config
    assert config["log"] == "none" and p["logging_steps"] == 1
    defaults = _local_config(tmp_path)["params"]
    assert defaults["block_size"] == 128           # capped by the model's positions
    assert defaults["epochs"] == 1 and defaults["lr"] == 2e-4


def test_remote_configs(tmp_path):
    t4 = cfg.build(base_model="HuggingFaceTB/SmolLM2-135M-Instruct", project="triage",
                   data_dir=tmp_path, backend="spaces-t4-small", hyperparameters={},
                   options={}, context_window=None)
    assert t4["hub"] == {"username": "${HF_USERNAME}", "token": "${HF_TOKEN}",
                         "push_to_hub": True}
    assert t4["params"]["quantization"] == "int4" and t4["params"]["mixed_precision"] == "fp16"
    assert t4["params"]["merge_adapter"] is True and t4["params"]["epochs"] == 3
    a100 = cfg.build(base_model="org/m", project="p", data_dir=tmp_path,
                     backend="ep-aws-useast1-xl", hyperparameters={}, options={"merge": False},
                     context_window=None)
    assert a100["params"]["mixed_precision"] == "bf16" and not a100["params"]["merge_adapter"]
    (tmp_path / "train.jsonl").write_text("{}\n")
    assert cfg.validate(t4) == [] and cfg.validate(a100) == []


@pytest.mark.parametrize("change, message", [
    (lambda c: c.pop("log"), "log is missing"),
    (lambda c: c["data"].pop("valid_split"), "data.valid_split is missing"),
    (lambda c: c.update(project_name="my/project"), "project_name must be letters"),
    (lambda c: c.update(project_name="x" * 51), "project_name must be letters"),
    (lambda c: c["params"].update(epoch=3), "params.epoch is not a field"),
    (lambda c: c["params"].update(epochs="3"), "params.epochs must be int"),
    (lambda c: c["params"].update(epochs=True), "got a boolean"),
    (lambda c: c["params"].update(lr=0), "params.lr must be above 0"),
    (lambda c: c["params"].update(model="gpt2"), "set from the top-level"),
    (lambda c: c["params"].update(quantization="int4"), "must be null on local"),
    (lambda c: c["params"].update(mixed_precision="fp16"), "must be null on local"),
    (lambda c: c["params"].update(padding="middle"), "params.padding must be one of"),
    (lambda c: c["data"].update(chat_template="llama"), "data.chat_template"),
    (lambda c: c.update(backend="spaces-h100"), "unknown AutoTrain backend"),
    (lambda c: c.update(task="llm-dpo"), "supervised fine-tuning"),
    (lambda c: c.update(hub={"username": "me", "token": "hf_secret", "push_to_hub": True}),
     "never the token itself"),
    (lambda c: c.update(extra=1), "extra is not an AutoTrain config key"),
])
def test_validate_names_what_is_wrong(tmp_path, change, message):
    config = _local_config(tmp_path)
    change(config)
    with pytest.raises(ftdecide.UsageError, match=message.replace("(", r"\(")):
        cfg.validate(config)


def test_remote_needs_a_username_in_hub(tmp_path):
    config = cfg.build(base_model="org/m", project="p", data_dir=tmp_path,
                       backend="spaces-a10g-large", hyperparameters={}, options={},
                       context_window=None)
    (tmp_path / "train.jsonl").write_text("{}\n")
    del config["hub"]
    with pytest.raises(ftdecide.UsageError, match="hub.username"):
        cfg.validate(config)


def test_written_yaml_reads_back_identically(tmp_path):
    config = _local_config(tmp_path)
    path = cfg.write(config, tmp_path / "config.yml")
    assert cfg.read(path) == config
    text = path.read_text()
    assert text.index("task:") < text.index("data:") < text.index("params:")


def test_data_is_written_as_autotrain_reads_it(tmp_path):
    src = tmp_path / "chat.jsonl"
    rows = [
        {"messages": [{"role": "system", "content": "sys"},
                      {"role": "user", "content": [{"type": "text", "text": "a "},
                                                   {"type": "text", "text": "b"}], "name": "u1"},
                      {"role": "assistant", "content": "yes", "weight": 1}]},
        {"messages": [{"role": "user", "content": "<b>&amp;</b> ünïcode"},
                      {"role": "assistant", "content": "no", "weight": 0}]},
    ]
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = cfg.write_data(src, tmp_path / "data")
    assert out["examples"] == 2 and out["dropped_weights"] == 2
    written = [json.loads(line) for line in Path(out["path"]).read_text().splitlines()]
    assert written[0] == {"messages": [{"role": "system", "content": "sys"},
                                       {"role": "user", "content": "a b"},
                                       {"role": "assistant", "content": "yes"}]}
    assert written[1]["messages"][0]["content"] == "<b>&amp;</b> ünïcode"
    assert out["path"].endswith("data/train.jsonl")       # <data.path>/<train_split>.jsonl


def test_tool_messages_are_refused_with_their_line(tmp_path):
    src = tmp_path / "chat.jsonl"
    src.write_text(json.dumps({"messages": [{"role": "user", "content": "a"},
                                            {"role": "assistant", "content": "b"}]}) + "\n"
                   + json.dumps({"messages": [{"role": "user", "content": "a"},
                                              {"role": "tool", "content": "b"}]}) + "\n")
    with pytest.raises(ftdecide.DataError, match=r"chat.jsonl:2: .*'tool'"):
        cfg.write_data(src, tmp_path / "data")


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80), st.one_of(st.none(), st.text(max_size=80)))
def test_project_names_are_always_valid_or_refused(job_id, suffix):
    try:
        name = cfg.project_name(job_id, suffix)
    except ftdecide.UsageError:
        return
    assert name and len(name) <= 50 and name.replace("-", "").isalnum() and name.isascii()
