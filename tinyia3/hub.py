"""Names and paths -> files: a local folder, the Hugging Face hub cache, or the embedded model.

This module knows where model files are, nothing about what is in them.

    "embedded"                the small GPT-2 shipped in data/embedded/
    "./my-model", "/abs/dir"  a local folder with config.json + model.safetensors
    "gpt2", "org/name"        a hub repository, through huggingface_hub: the local cache
                              first; a download only when allowed and the hub answers.

Without a network huggingface_hub retries for ~23 s before giving up. A classroom cannot wait
for that, so a cache miss is answered at once when HF_HUB_OFFLINE is set, and after a short
connection probe otherwise.
"""

from __future__ import annotations

import os
import re
import socket
import threading
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from .errors import MissingFileError, NotAFolderError
from .paths import DATA_DIR, EMBEDDED_DIR, restore_hint  # noqa: F401  (DATA_DIR: importable from here, as before)


# Short names the hub redirects to their organisation's repository. Both spellings are looked
# up in the cache, because a model downloaded as "gpt2" is cached under that name.
HUB_ALIASES = {
    "gpt2": "openai-community/gpt2",
    "gpt2-medium": "openai-community/gpt2-medium",
    "gpt2-large": "openai-community/gpt2-large",
    "gpt2-xl": "openai-community/gpt2-xl",
    "distilgpt2": "distilbert/distilgpt2",
}

WEIGHTS_NAME = "model.safetensors"
TOKENIZER_NAMES = ("tokenizer.json", "vocab.json", "merges.txt")
PROBE_SECONDS = 1.5  # to open a TCP connection
ANSWER_SECONDS = 4.0  # for the hub's first answer (a network that accepts and never answers)

_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


class ModelNotAvailableError(MissingFileError):
    """The model is neither on disk nor reachable; the message lists the ways out."""


@dataclass(frozen=True)
class ModelFiles:
    """Where one model's files are. `folder` holds config.json and the weights."""

    name: str  # what the user asked for
    folder: Path
    source: str  # for people: "local folder …", "hub cache: org/name@rev", "embedded …"


def resolve(name_or_path: str | os.PathLike = "embedded", cache_dir: str | None = None) -> ModelFiles:
    """Find the folder holding a model's config.json and weights, downloading only if allowed."""
    name = os.fspath(name_or_path)
    if name == "embedded":
        if not (EMBEDDED_DIR / WEIGHTS_NAME).is_file():
            raise MissingFileError(
                f"The embedded model is missing from {EMBEDDED_DIR}: it ships with tinyia3; "
                f"{restore_hint('data/embedded')}."
            )
        return ModelFiles(name, EMBEDDED_DIR, f"embedded model shipped with tinyia3 ({EMBEDDED_DIR})")
    path = Path(name).expanduser()
    if path.exists():
        return ModelFiles(name, _check_folder(path), f"local folder {path.resolve()}")
    if _looks_like_path(name) or not _REPO_ID.match(name):
        raise MissingFileError(
            f"Model path {name!r} does not exist. Expected a folder with config.json and "
            "model.safetensors, a hub name such as 'gpt2', or 'embedded'. Check the spelling "
            "and the current directory."
        )
    return _from_hub(name, cache_dir)


def _looks_like_path(name: str) -> bool:
    return name.startswith((".", "/", "~")) or name.count("/") > 1 or os.sep != "/" and os.sep in name


def _check_folder(path: Path) -> Path:
    if not path.is_dir():
        raise NotAFolderError(
            f"{path} is a file; expected the folder that holds config.json and model.safetensors. "
            f"Pass {path.parent} instead."
        )
    if not (path / "config.json").is_file():
        raise MissingFileError(
            f"No config.json in {path}. A GPT-2 folder needs config.json (the shapes) and "
            "model.safetensors (the weights), as written by save_pretrained or found on the hub."
        )
    if not (path / WEIGHTS_NAME).is_file():
        found = sorted(p.name for p in path.iterdir())
        extra = ""
        if "pytorch_model.bin" in found:
            extra = (" It has pytorch_model.bin, a pickle tinyia3 does not read: convert it once "
                     "with transformers (model.save_pretrained(folder, safe_serialization=True)).")
        raise MissingFileError(
            f"No {WEIGHTS_NAME} in {path} (found: {', '.join(found) or 'nothing'}).{extra}"
        )
    return path


# -- the hub ---------------------------------------------------------------------------------------


def hub_offline() -> bool:
    """HF_HUB_OFFLINE read now (huggingface_hub reads it once, at import)."""
    from huggingface_hub import constants

    env = os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in ("1", "ON", "YES", "TRUE")
    return env or bool(constants.HF_HUB_OFFLINE)


def hub_reachable(endpoint: str | None = None, timeout: float = PROBE_SECONDS) -> bool:
    """Can a TCP connection to the hub be opened within `timeout` seconds?

    Name resolution ignores socket timeouts, so the probe runs in a thread we stop waiting for.
    """
    from huggingface_hub import constants

    url = urlparse(endpoint or constants.ENDPOINT)
    host, port = url.hostname, url.port or (443 if url.scheme == "https" else 80)
    result = []

    def probe():
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            result.append(True)
        except OSError:
            pass

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(result)


def hub_answer(repo_id: str, endpoint: str | None = None, timeout: float = ANSWER_SECONDS) -> int | None:
    """The HTTP status of the hub's answer about repo_id's config.json (200, 404, ...), or None if
    no answer came within `timeout` seconds in all (name resolution, connection and reply).

    A network that accepts connections and never replies (a proxy, a dropping firewall) would
    otherwise hold huggingface_hub in its timeouts and retries for minutes.
    """
    import urllib.error
    import urllib.request

    from huggingface_hub import constants

    url = f"{(endpoint or constants.ENDPOINT).rstrip('/')}/{repo_id}/resolve/main/config.json"
    result = []

    def ask():
        request = urllib.request.Request(url, method="HEAD")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as reply:
                result.append(reply.status)
        except urllib.error.HTTPError as err:
            result.append(err.code)
        except (OSError, ValueError):
            pass

    thread = threading.Thread(target=ask, daemon=True)
    thread.start()
    thread.join(timeout)
    return result[0] if result else None


def _from_hub(name: str, cache_dir: str | None) -> ModelFiles:
    from huggingface_hub import constants, hf_hub_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    repo_ids = [name] + ([HUB_ALIASES[name]] if name in HUB_ALIASES else [])
    cache = cache_dir or constants.HF_HUB_CACHE
    for repo_id in repo_ids:
        try:
            config = hf_hub_download(repo_id, "config.json", cache_dir=cache, local_files_only=True)
            hf_hub_download(repo_id, WEIGHTS_NAME, cache_dir=cache, local_files_only=True)
        except LocalEntryNotFoundError:
            continue
        folder = Path(config).parent
        return ModelFiles(name, folder, f"hub cache: {repo_id}@{folder.name[:12]} ({folder})")

    repo_id = repo_ids[-1]
    if hub_offline():
        why = "HF_HUB_OFFLINE is set, so nothing may be downloaded"
    elif not hub_reachable():
        why = f"the hub ({constants.ENDPOINT}) cannot be reached from this machine"
    else:
        status = hub_answer(repo_id)
        why = {None: f"the hub ({constants.ENDPOINT}) accepts connections but does not answer within "
                     f"{ANSWER_SECONDS:g} s (a proxy or firewall?)",
               404: f"the hub has no repository {repo_id!r} (check the name)",
               401: f"the hub refuses access to {repo_id!r} (a private or gated repository: log in first)"}.get(status)
        if why is None and status is not None and status >= 400:
            why = f"the hub answered HTTP {status} for {repo_id!r}"
    if why:
        raise ModelNotAvailableError(
            f"Cannot load {name!r} (hub repository {repo_id}): it is not in the Hugging Face cache "
            f"({cache}) and {why}. Ways out:\n"
            f"  1. connect to the internet once and run `tinyia3 info --model {name}` to download "
            "and cache it (later runs work offline);\n"
            "  2. pass a local folder that holds config.json and model.safetensors;\n"
            "  3. use the model that ships with tinyia3: --model embedded (or load_model('embedded'))."
        )
    # The hub answered: download, with a bounded wait for each file's metadata.
    config = hf_hub_download(repo_id, "config.json", cache_dir=cache, etag_timeout=ANSWER_SECONDS)
    hf_hub_download(repo_id, WEIGHTS_NAME, cache_dir=cache, etag_timeout=ANSWER_SECONDS)
    for optional in TOKENIZER_NAMES:
        try:
            hf_hub_download(repo_id, optional, cache_dir=cache, etag_timeout=ANSWER_SECONDS)
        except Exception:  # noqa: BLE001 - a repository without tokenizer files is still a model
            pass
    folder = Path(config).parent
    return ModelFiles(name, folder, f"hub: {repo_id}@{folder.name[:12]}, downloaded to {folder}")

