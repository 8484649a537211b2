"""A test double of the external ``autotrain`` CLI (AutoTrain Advanced 0.8.36), nothing more.

It is installed by the tests as an executable script named ``autotrain`` and
behaves like ``autotrain --config config.yml`` as far as ftdecide can see:

- it reads the YAML config as AutoTrain's ``AutoTrainConfigParser`` does and
  writes into ``<cwd>/<project_name>/`` like AutoTrain (``training_params.json``
  at launch, ``autotrain-data/``);
- it replays a log recorded from AutoTrain (``FAKE_AUTOTRAIN_LOG``, a file in
  ``tests/data``) on stdout, the way AutoTrain's loguru logger and the
  Trainer's tqdm bars reach ftdecide (merged);
- ``FAKE_AUTOTRAIN_MODE`` picks the outcome: ``success`` writes what a
  finished llm-sft run writes (adapter weights and config, tokenizer file,
  ``training_args.bin``, ``README.md``); ``failed-exit0`` writes no weights
  and exits 0, as AutoTrain does when training raised; ``refused`` exits 1
  with a traceback before training, as when AutoTrain refuses a config;
- it checks, as AutoTrain's launcher needs, that its own folder is first on
  ``PATH`` (AutoTrain runs ``accelerate launch`` by name), and fails loudly
  if not.

The real AutoTrain runs in ``test_real_autotrain.py`` when an AutoTrain
environment exists.
"""

import json
import os
import sys
import time
from pathlib import Path

import yaml


def main() -> int:
    args = sys.argv[1:]
    if args == ["--version"]:
        print("0.8.36")
        return 0
    if len(args) != 2 or args[0] != "--config":
        print("usage: autotrain --config CONFIG", file=sys.stderr)
        return 2
    here = str(Path(__file__).resolve().parent)
    if os.environ.get("PATH", "").split(os.pathsep)[0] != here:
        print("FileNotFoundError: [Errno 2] No such file or directory: 'accelerate'")
        return 1
    config = yaml.safe_load(Path(args[1]).read_text())
    mode = os.environ.get("FAKE_AUTOTRAIN_MODE", "success")
    record = os.environ.get("FAKE_AUTOTRAIN_RECORD")
    if record:  # what the test wants to see about the call
        Path(record).write_text(json.dumps({
            "cwd": os.getcwd(), "argv": sys.argv, "config": config,
            "env": {k: os.environ.get(k) for k in ("HF_HUB_OFFLINE", "ALLOW_REMOTE_CODE",
                                                   "PYTHONUNBUFFERED", "HF_TOKEN")}}))
    log = Path(os.environ["FAKE_AUTOTRAIN_LOG"]).read_text(encoding="utf-8")
    project = Path(config["project_name"])
    if mode == "refused":
        sys.stdout.write(log)
        return 1
    project.mkdir(exist_ok=True)
    (project / "autotrain-data").mkdir(exist_ok=True)
    (project / "training_params.json").write_text(json.dumps({
        "model": config["base_model"], "project_name": config["project_name"],
        **config["params"]}))
    delay = float(os.environ.get("FAKE_AUTOTRAIN_DELAY", "0"))
    for line in log.splitlines(keepends=True):
        sys.stdout.write(line)
        sys.stdout.flush()
        if delay:
            time.sleep(delay)
    if mode == "success":
        (project / "adapter_config.json").write_text(json.dumps({
            "base_model_name_or_path": config["base_model"], "peft_type": "LORA",
            "r": config["params"]["lora_r"], "lora_alpha": config["params"]["lora_alpha"],
            "target_modules": ["q_proj", "v_proj"], "task_type": "CAUSAL_LM"}))
        header = json.dumps({"__metadata__": {"format": "pt"}}).encode()
        (project / "adapter_model.safetensors").write_bytes(
            len(header).to_bytes(8, "little") + header)
        (project / "tokenizer_config.json").write_text("{}")
        (project / "training_args.bin").write_bytes(b"\x80\x04fake-training-args")
        (project / "README.md").write_text("# Model Trained Using AutoTrain\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
