"""A training run's folder: one writer at a time, never mixed with another run, fingerprinted.

`tinyia3 train --out RUN` owns RUN for the whole run:

* a lock file, RUN/.lock, holds the writer's pid; a second writer is refused while that process
  lives, and a lock left by a killed process is taken over (it is stale);
* a folder that already holds a run is used again only with --resume (continue it) or
  --overwrite (replace it), never silently;
* the run records fingerprints of what it trains on (the base model's weights, each dataset's
  tokens, the options), and --resume refuses any difference, naming it;
* temporary files left by a save that was killed (write_atomic's `.NAME.tmp-PID`) are removed.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
from dataclasses import asdict
from pathlib import Path

import numpy as np

from .errors import RunFolderError

LOCK = ".lock"
RUN_FILES = ("state.safetensors", "adapter.safetensors", "history.jsonl", "model")
_TEMP = re.compile(r"^\..+\.tmp-\d+$")  # checkpoint.write_atomic's temporary names


def model_digest(model) -> str:
    """sha256 of the base model's weights (names, shapes and values in float32, in name order).

    float32 values, so that one checkpoint loaded in float32 or float64 has one digest (its
    values come from a float32, float16 or bfloat16 file and survive the round trip exactly).
    """
    h = hashlib.sha256()
    for name in sorted(model.params):
        array = np.ascontiguousarray(model.params[name], dtype=np.float32)
        h.update(f"{name}:{array.shape};".encode())
        h.update(memoryview(array).cast("B"))
    return h.hexdigest()


def dataset_digest(dataset) -> str | None:
    """sha256 of a dataset's task kind and token ids, as trained on (None for no dataset)."""
    if dataset is None:
        return None
    h = hashlib.sha256(dataset.kind.encode())
    for example in dataset.examples:
        h.update(json.dumps(asdict(example)).encode())
    return h.hexdigest()


def fingerprint(model, train_set, eval_set) -> dict:
    """What a resumed run must share with the saved one, besides its options."""
    return {"model": model_digest(model), "model_dtype": np.dtype(model.dtype).name,
            "train_data": dataset_digest(train_set), "eval_data": dataset_digest(eval_set)}


def fingerprint_changes(saved: dict, now: dict, sources: dict) -> list[str]:
    """One phrase per difference, e.g. 'the training data (runs/a.jsonl) differs from the run's'."""
    what = {"model": "the base model's weights", "train_data": "the training data", "eval_data": "the held-out data"}
    changes = [f"{what[k]}{f' ({sources[k]})' if sources.get(k) else ''} differ{'s' if k != 'model' else ''} "
               f"from the saved run's (sha256 {str(saved.get(k))[:12]} then, {str(v)[:12]} now)"
               for k, v in now.items() if k in what and saved.get(k) != v]
    if saved.get("model_dtype", now["model_dtype"]) != now["model_dtype"]:
        changes.append(f"the model was {saved['model_dtype']}, now {now['model_dtype']}")
    return changes


class RunFolder:
    """The run folder, locked for the duration of a `with` block."""

    def __init__(self, out):
        self.path = Path(out)
        if self.path.exists() and not self.path.is_dir():
            raise RunFolderError(f"--out {self.path} is a file; expected a folder for the run (it is created "
                                 "if missing). Pass another --out.")
        self.lock = self.path / LOCK

    def __enter__(self) -> "RunFolder":
        self.path.mkdir(parents=True, exist_ok=True)  # PermissionError here names the folder
        self._take_lock()
        self.remove_temp_files()
        return self

    def __exit__(self, *exc) -> None:
        try:
            if self.lock.read_text().split()[0] == str(os.getpid()):
                self.lock.unlink()
        except (OSError, IndexError):
            pass

    def _take_lock(self) -> None:
        me = f"{os.getpid()} {socket.gethostname()}\n"
        for _ in range(2):  # the second try after removing a stale lock
            try:
                fd = os.open(self.lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                owner = _lock_owner(self.lock)
                if owner is not None and _alive(owner):
                    raise RunFolderError(
                        f"--out {self.path} is in use by another tinyia3 process (pid {owner}, see {self.lock}). "
                        "Wait for it to finish, or pass another --out.") from None
                self.lock.unlink(missing_ok=True)  # stale: its writer is gone
                continue
            with os.fdopen(fd, "w") as f:
                f.write(me)
            return
        raise RunFolderError(f"Could not lock {self.lock}: another process keeps re-creating it.")

    def remove_temp_files(self) -> list[Path]:
        """Delete temporary files a killed save left behind (never a finished file)."""
        removed = []
        for folder in (self.path, self.path / "model"):
            if folder.is_dir():
                for p in folder.iterdir():
                    if _TEMP.match(p.name) and p.is_file():
                        p.unlink()
                        removed.append(p)
        return removed

    def used(self) -> list[str]:
        """The run files already here (a previous run's)."""
        return [name for name in RUN_FILES if (self.path / name).exists()]

    def clear(self) -> None:
        """Remove a previous run's files (for --overwrite)."""
        import shutil

        for name in self.used():
            target = self.path / name
            shutil.rmtree(target) if target.is_dir() else target.unlink()


def _lock_owner(lock: Path) -> int | None:
    try:
        return int(lock.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None  # unreadable or half-written: treat as stale


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True  # this process already holds it (a second train() in one process)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def read_history(folder) -> list[dict]:
    """The records of RUN/history.jsonl (one JSON object a line, as train() writes them)."""
    from .errors import FileContentError, MissingFileError

    path = Path(folder) / "history.jsonl"
    if not path.is_file():
        raise MissingFileError(f"{path} does not exist: expected the run folder of `tinyia3 train --out RUN` "
                               "(it holds history.jsonl). Check the path.")
    records = []
    for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            record = None
        if not isinstance(record, dict) or not isinstance(record.get("step"), int):
            raise FileContentError(f"{path}:{number}: expected a JSON object with a \"step\", as `tinyia3 train` "
                                   f"writes; found {line[:60]!r}. Rerun the training, or pass another run folder.")
        records.append(record)
    if not records:
        raise FileContentError(f"{path} holds no records: the run has not evaluated or trained a step yet.")
    return records
