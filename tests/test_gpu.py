"""CUDA paths (fp16/bf16, big token budgets, ONNX on the CUDA provider). Skipped without
a GPU, as in CI; run on a GPU machine with ``pytest -m gpu tests/test_gpu.py``."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]

from rerankit import Reranker  # noqa: E402


@pytest.mark.parametrize("dtype", [None, "float16", "bfloat16"])
def test_cuda_half_precision_ranks_like_cpu_fp32(minilm_dir, dl19, dtype):
    """The real all-MiniLM-L6-v2 bi-encoder: cosines within 0.01 of CPU fp32."""
    query = next(iter(dl19["queries"].values()))
    docs = list(dl19["corpus"].values())[:64]
    cpu = np.array(Reranker(str(minilm_dir), device="cpu").score(query, docs))
    gpu_reranker = Reranker(str(minilm_dir), device="cuda", dtype=dtype)
    assert gpu_reranker.token_budget == 65536
    if dtype is None:
        expected = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        assert gpu_reranker.backend.dtype == expected
    gpu = np.array(gpu_reranker.score(query, docs))
    assert np.abs(gpu - cpu).max() < 0.01
    assert np.argmax(gpu) == np.argmax(cpu)


def test_cuda_cross_encoder_batches_match_one_by_one(tiny_bert_dir, passages):
    reranker = Reranker(str(tiny_bert_dir), device="cuda", dtype="float32")
    batched = reranker.score("tides", passages[:100])
    single = [reranker.score("tides", [p])[0] for p in passages[:100]]
    assert batched == pytest.approx(single, abs=1e-4)


def test_onnx_export_on_the_cuda_provider(tmp_path, tiny_bert_dir, passages):
    ort = pytest.importorskip("onnxruntime")
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        pytest.skip("onnxruntime has no CUDA provider (install onnxruntime-gpu)")
    from rerankit.export import export_onnx

    folder = export_onnx(str(tiny_bert_dir), tmp_path / "onnx").folder
    got = Reranker(str(folder), device="cuda").score("tides", passages[:20])
    expected = Reranker(str(tiny_bert_dir), device="cpu").score("tides", passages[:20])
    assert got == pytest.approx(expected, abs=1e-3)
