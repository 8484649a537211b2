"""Hugging Face Hub models: found in the local Hugging Face cache first, downloaded only
when missing and the Hub is reachable.

``HF_HUB_OFFLINE`` (or ``TRANSFORMERS_OFFLINE``) makes a missing model fail
at once; otherwise the Hub is asked with a short timeout, and an
unreachable Hub or an unknown id is a :class:`ftdecide.ProviderError`,
never a hang. huggingface_hub is imported inside the functions.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import ftdecide

from .default_model import DEFAULT_MODEL
from .specs import _FORMS_HINT, count_parameters

HF_OFFLINE_ENV = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
#: Seconds to wait for the Hub before declaring it unreachable.
HUB_TIMEOUT_S = 10.0
#: What is downloaded of a Hub model: weights as safetensors, configs, tokenizer.
HUB_PATTERNS = ["*.json", "*.safetensors", "*.jinja", "*.txt", "*.model", "*.tiktoken",
                "tokenizer*"]


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


__all__ = ["HUB_PATTERNS", "HUB_TIMEOUT_S", "hub_offline", "hub_snapshot"]
