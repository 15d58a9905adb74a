"""Thread defaults: affinity, cgroup CPU quota, env override, server workers."""

from __future__ import annotations

import os

import pytest

from rerankit import InvalidInputError
from rerankit._threads import available_cpus, default_threads, resolve_threads

AFFINITY = len(os.sched_getaffinity(0))


def _cgroup_v2(tmp_path, text):
    (tmp_path / "cpu.max").write_text(text)
    return tmp_path


def test_a_cgroup_v2_quota_caps_the_cpus(tmp_path):
    assert available_cpus(_cgroup_v2(tmp_path, "100000 100000\n")) == 1
    # 1.5 CPUs of quota: two threads can use it, never more than the affinity mask
    assert available_cpus(_cgroup_v2(tmp_path, "150000 100000\n")) == min(2, AFFINITY)


def test_no_quota_means_the_affinity_mask(tmp_path):
    assert available_cpus(_cgroup_v2(tmp_path, "max 100000\n")) == AFFINITY
    assert available_cpus(tmp_path / "missing") == AFFINITY


def test_a_cgroup_v1_quota_caps_the_cpus(tmp_path):
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("50000\n")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert available_cpus(tmp_path) == 1
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")  # unlimited
    assert available_cpus(tmp_path) == AFFINITY


def test_env_override_and_workers(monkeypatch):
    monkeypatch.delenv("RERANKIT_NUM_THREADS", raising=False)
    monkeypatch.setenv("RERANKIT_WORKERS", str(AFFINITY * 4))
    assert default_threads() == 1  # more workers than CPUs: one thread each, not zero
    monkeypatch.setenv("RERANKIT_WORKERS", "1")
    assert default_threads() == available_cpus()
    monkeypatch.setenv("RERANKIT_NUM_THREADS", "3")
    assert default_threads() == 3 and resolve_threads(None) == 3
    assert resolve_threads(5) == 5


@pytest.mark.parametrize("bad", ["0", "-2", "two", "1.5"])
def test_a_bad_env_value_is_a_clear_error(monkeypatch, bad):
    monkeypatch.setenv("RERANKIT_NUM_THREADS", bad)
    with pytest.raises(InvalidInputError, match="RERANKIT_NUM_THREADS"):
        default_threads()


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_bad_thread_counts_are_refused(bad):
    with pytest.raises(InvalidInputError, match="threads"):
        resolve_threads(bad)


def test_reranker_threads_reach_torch(tiny_bert_dir):
    import torch

    from rerankit import Reranker

    before = torch.get_num_threads()
    try:
        Reranker(str(tiny_bert_dir), threads=1)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
