"""How many threads a model may use: the CPUs this process may really run on (affinity
and cgroup CPU quota), shared between server workers, or what the caller says.

``RERANKIT_NUM_THREADS`` overrides the default; ``RERANKIT_WORKERS`` (set by
``rerankit serve --workers N``) divides the CPUs between worker processes, so N workers
never run more threads than there are CPUs.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from rerankit._exceptions import InvalidInputError

THREADS_ENV = "RERANKIT_NUM_THREADS"
WORKERS_ENV = "RERANKIT_WORKERS"


def _cgroup_quota(root: Path) -> float | None:
    """CPUs allowed by a cgroup v2 ``cpu.max`` or v1 ``cpu.cfs_quota_us``; None: no limit."""
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period = int((root / "cpu" / "cpu.cfs_period_us").read_text())
        return quota / period if quota > 0 and period > 0 else None
    except (OSError, ValueError):
        return None


def available_cpus(cgroup_root: str | Path = "/sys/fs/cgroup") -> int:
    """CPUs this process can use: its affinity mask, capped by a cgroup CPU quota."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    quota = _cgroup_quota(Path(cgroup_root))
    if quota is not None and quota > 0:
        cpus = min(cpus, max(1, math.ceil(quota)))
    return max(1, cpus)


def _positive_env(name: str) -> int | None:
    value = os.environ.get(name, "").strip()
    if not value:
        return None
    if not value.isdigit() or int(value) < 1:
        raise InvalidInputError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def default_threads() -> int:
    """``RERANKIT_NUM_THREADS``, else the available CPUs divided among server workers."""
    override = _positive_env(THREADS_ENV)
    if override is not None:
        return override
    return max(1, available_cpus() // (_positive_env(WORKERS_ENV) or 1))


def resolve_threads(threads: int | None) -> int:
    """The caller's thread count (validated), else :func:`default_threads`."""
    if threads is None:
        return default_threads()
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise InvalidInputError(f"threads must be a positive int, got {threads!r}")
    return threads


def apply_torch_threads(torch: Any, threads: int | None) -> int:
    """Set torch's intra-op threads (process-wide) to the resolved count; return it."""
    count = resolve_threads(threads)
    if torch.get_num_threads() != count:
        torch.set_num_threads(count)
    return count
