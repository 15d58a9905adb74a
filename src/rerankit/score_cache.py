"""A disk cache of reranker scores, keyed by model and the exact (query, document) text.

A re-run of a benchmark with a new K, a new metric or more first stages reuses every
score already computed; only new pairs reach the model. Per-query rerank timings are
kept too, so latency figures of a cached run are the ones measured when the model ran.
The cache is one SQLite file; it is safe to delete at any time.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rerankit._exceptions import InvalidInputError

DEFAULT_CACHE_DIR = Path.home() / ".cache" / "rerankit"

#: Bumped whenever rerankit's scoring of the same model and text changes, so old cached
#: scores are not served (2: long documents are scored in windows by default).
SCORING_VERSION = 2

_SCHEMA = """
CREATE TABLE IF NOT EXISTS scores (
    model TEXT NOT NULL, pair TEXT NOT NULL, score REAL NOT NULL, raw_score REAL NOT NULL,
    truncated INTEGER NOT NULL, PRIMARY KEY (model, pair));
CREATE TABLE IF NOT EXISTS timings (
    model TEXT NOT NULL, list TEXT NOT NULL, ms REAL NOT NULL, pairs INTEGER NOT NULL,
    PRIMARY KEY (model, list));
CREATE TABLE IF NOT EXISTS models (model TEXT PRIMARY KEY, info TEXT NOT NULL);
"""


def _digest(*parts: str) -> str:
    hasher = hashlib.sha256()
    for part in parts:
        data = part.encode("utf-8", "surrogatepass")
        hasher.update(len(data).to_bytes(8, "little"))
        hasher.update(data)
    return hasher.hexdigest()


def model_key(name: str, **settings: Any) -> str:
    """A cache key for a reranker: its name plus every setting that changes scores.

    For a local folder, the size and modification time of its weight files are included,
    so retraining a model in place invalidates its scores.
    """
    fingerprint: dict[str, Any] = {k: v for k, v in sorted(settings.items()) if v is not None}
    fingerprint["scoring"] = SCORING_VERSION
    folder = Path(name)
    if folder.is_dir():
        fingerprint["folder"] = str(folder.resolve())
        fingerprint["weights"] = sorted(
            (p.name, p.stat().st_size, int(p.stat().st_mtime))
            for p in folder.iterdir() if p.suffix in (".safetensors", ".bin", ".onnx", ".pt"))
    return f"{name}|{json.dumps(fingerprint, sort_keys=True, default=str)}"


class ScoreCache:
    """Scores and timings of reranker runs, in ``<folder>/scores.sqlite``."""

    def __init__(self, folder: str | Path = DEFAULT_CACHE_DIR) -> None:
        folder = Path(folder).expanduser()
        try:
            folder.mkdir(parents=True, exist_ok=True)
            # one connection shared by threads (the server scores on its model thread)
            self._db = sqlite3.connect(folder / "scores.sqlite", check_same_thread=False)
            self._db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise InvalidInputError(f"cannot use the score cache in {str(folder)!r}: {exc}") \
                from exc
        self.path = folder / "scores.sqlite"
        self._lock = threading.RLock()

    def close(self) -> None:
        self._db.close()

    def get_scores(self, model: str, query: str, texts: Sequence[str]
                   ) -> list[tuple[float, float, bool] | None]:
        """(score, raw_score, truncated) per text, or None where not cached."""
        keys = [_digest(query, text) for text in texts]
        found: dict[str, tuple[float, float, bool]] = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start:start + 500]
            marks = ",".join("?" * len(chunk))
            with self._lock:
                rows = self._db.execute(
                    f"SELECT pair, score, raw_score, truncated FROM scores "
                    f"WHERE model = ? AND pair IN ({marks})", [model, *chunk]).fetchall()
            found.update({pair: (s, r, bool(t)) for pair, s, r, t in rows})
        return [found.get(key) for key in keys]

    def put_scores(self, model: str, query: str, texts: Sequence[str],
                   values: Sequence[tuple[float, float, bool]]) -> None:
        """Store (score, raw_score, truncated) for each text."""
        rows = [(model, _digest(query, text), float(s), float(r), int(t))
                for text, (s, r, t) in zip(texts, values, strict=True)]
        with self._lock, self._db:
            self._db.executemany("INSERT OR REPLACE INTO scores VALUES (?, ?, ?, ?, ?)", rows)

    def get_timing(self, model: str, query: str, texts: Sequence[str]) -> tuple[float, int] | None:
        """Measured rerank time (ms) and pair count for exactly this candidate list."""
        with self._lock:
            row = self._db.execute("SELECT ms, pairs FROM timings WHERE model = ? AND list = ?",
                                   (model, _digest(query, *texts))).fetchone()
        return (row[0], row[1]) if row else None

    def put_timing(self, model: str, query: str, texts: Sequence[str], ms: float) -> None:
        with self._lock, self._db:
            self._db.execute("INSERT OR REPLACE INTO timings VALUES (?, ?, ?, ?)",
                             (model, _digest(query, *texts), float(ms), len(texts)))

    def ms_per_pair(self, model: str) -> float | None:
        """Mean rerank time per pair over every timing measured for ``model``."""
        with self._lock:
            total_ms, pairs = self._db.execute(
                "SELECT SUM(ms), SUM(pairs) FROM timings WHERE model = ?", (model,)).fetchone()
        return total_ms / pairs if pairs else None

    def get_model_info(self, model: str) -> dict[str, Any] | None:
        """What was measured when the model last loaded (load_s, peak_memory_mb, ...)."""
        with self._lock:
            row = self._db.execute("SELECT info FROM models WHERE model = ?",
                                   (model,)).fetchone()
        return json.loads(row[0]) if row else None

    def put_model_info(self, model: str, info: dict[str, Any]) -> None:
        with self._lock, self._db:
            self._db.execute("INSERT OR REPLACE INTO models VALUES (?, ?)",
                             (model, json.dumps(info)))

    def count(self) -> int:
        """Number of cached pair scores."""
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM scores").fetchone()[0]
