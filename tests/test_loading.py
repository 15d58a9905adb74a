"""Model resolution and loading: folders, the HF cache, aliases, and clear failures."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from rerankit import (
    KNOWN_MODELS,
    InvalidInputError,
    ModelNotFoundError,
    Reranker,
    UnsupportedModelError,
    find_known_model,
)

pytest.importorskip("torch")


def test_missing_folder(tmp_path):
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        Reranker(str(tmp_path / "nope"))


def test_unknown_hub_id_offline_names_the_model(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(ModelNotFoundError, match="rerankit-test/no-such-model") as info:
        Reranker("rerankit-test/no-such-model")
    assert "local" in str(info.value)


def test_known_hub_model_that_cannot_be_downloaded(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(ModelNotFoundError, match="cross-encoder/ms-marco-MiniLM-L-6-v2"):
        Reranker("ms-marco-minilm-l6")


def test_loads_from_the_hugging_face_cache(tmp_path, tiny_bert_dir):
    cache = tmp_path / "hub"
    snapshot = cache / "models--acme--tiny-reranker" / "snapshots" / ("0" * 40)
    shutil.copytree(tiny_bert_dir, snapshot)
    (cache / "models--acme--tiny-reranker" / "refs").mkdir()
    (cache / "models--acme--tiny-reranker" / "refs" / "main").write_text("0" * 40)
    code = (
        "import sys; from rerankit import Reranker\n"
        "r = Reranker('acme/tiny-reranker')\n"
        "print(r.spec.backend, r.score('q', ['river delta', 'gold price'])[0] == "
        f"Reranker({str(tiny_bert_dir)!r}).score('q', ['river delta', 'gold price'])[0])"
    )
    env = {**os.environ, "HF_HUB_CACHE": str(cache), "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, check=True).stdout.split()
    assert out[-2:] == ["cross-encoder", "True"]


def test_folder_without_head_needs_an_explicit_backend(minilm_dir, tmp_path):
    folder = tmp_path / "encoder"
    shutil.copytree(minilm_dir, folder)
    (folder / "modules.json").unlink()
    with pytest.raises(UnsupportedModelError, match="backend='cross-encoder'"):
        Reranker(folder)
    assert Reranker(folder, backend="cross-encoder").spec.backend == "cross-encoder"


def test_causal_lm_folder_asks_for_its_recipe(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"architectures": ["Qwen3ForCausalLM"]}))
    with pytest.raises(UnsupportedModelError, match="qwen3-reranker"):
        Reranker(tmp_path)


def test_three_label_head_is_refused(copy_model, tiny_bert_dir):
    folder = copy_model(tiny_bert_dir)
    config = json.loads((folder / "config.json").read_text())
    config["id2label"] = {str(i): f"L{i}" for i in range(3)}
    config["label2id"] = {f"L{i}": i for i in range(3)}
    (folder / "config.json").write_text(json.dumps(config))
    from transformers import AutoModelForSequenceClassification

    AutoModelForSequenceClassification.from_pretrained(folder, num_labels=3,
                                                       ignore_mismatched_sizes=True
                                                       ).save_pretrained(folder)
    with pytest.raises(UnsupportedModelError, match="3-way"):
        Reranker(folder)


def test_hosted_model_is_listed_but_not_local():
    with pytest.raises(UnsupportedModelError, match="multimodal"):
        Reranker("jinaai/jina-reranker-m0")


def test_bad_arguments():
    with pytest.raises(InvalidInputError, match="backend"):
        Reranker("none", backend="magic")
    with pytest.raises(InvalidInputError, match="model"):
        Reranker("")
    with pytest.raises(InvalidInputError, match="token_budget"):
        Reranker("none", token_budget=0)


def test_known_model_table_is_complete():
    ids = {m.id for m in KNOWN_MODELS}
    required = {
        "BAAI/bge-reranker-v2-m3", "BAAI/bge-reranker-base", "BAAI/bge-reranker-large",
        "dragonkue/bge-reranker-v2-m3-ko", "jinaai/jina-reranker-v2-base-multilingual",
        "mixedbread-ai/mxbai-rerank-xsmall-v1", "mixedbread-ai/mxbai-rerank-base-v1",
        "mixedbread-ai/mxbai-rerank-large-v1", "mixedbread-ai/mxbai-rerank-base-v2",
        "mixedbread-ai/mxbai-rerank-large-v2", "Qwen/Qwen3-Reranker-0.6B",
        "Qwen/Qwen3-Reranker-4B", "Qwen/Qwen3-Reranker-8B", "BAAI/bge-reranker-v2-gemma",
        "cross-encoder/ms-marco-MiniLM-L-6-v2", "cross-encoder/ms-marco-TinyBERT-L-2-v2",
    }
    assert required <= ids
    for model in KNOWN_MODELS:
        assert model.backend and model.languages and model.parameters and model.licence
    assert find_known_model("qwen/qwen3-reranker-0.6b").id == "Qwen/Qwen3-Reranker-0.6B"
    assert find_known_model("jinaai/jina-reranker-v2-base-multilingual").trust_remote_code


@pytest.mark.parametrize(("auto_class", "backend"), [
    ("AutoModelForSequenceClassification", None),
    ("AutoModel", "bi-encoder"),
    ("AutoModelForCausalLM", "qwen3-reranker"),
])
def test_remote_code_model_needs_consent(tmp_path, auto_class, backend):
    config = {"architectures": ["XLMRobertaForSequenceClassification"],
              "auto_map": {auto_class: "modeling.Custom"}, "model_type": "xlm-roberta"}
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(Exception, match="trust_remote_code"):
        Reranker(tmp_path, backend=backend)


def test_missing_torch_names_the_extra():
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "from rerankit import Reranker, MissingDependencyError\n"
        "try:\n    Reranker('default')\nexcept MissingDependencyError as e:\n    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert "pip install 'rerankit[torch]'" in out


def test_instruction_for_a_backend_without_one_is_refused(tiny_bert_dir):
    with pytest.raises(InvalidInputError, match="takes no instruction"):
        Reranker(tiny_bert_dir, instruction="find answers")


def test_unreachable_hub_models_fail_fast_without_retries(monkeypatch):
    """One quick reachability check, not the hub client's retry back-off."""
    import time

    import huggingface_hub.constants

    from rerankit import ModelNotFoundError, Reranker

    started = time.monotonic()
    with pytest.raises(ModelNotFoundError, match="HF_HUB_OFFLINE"):
        Reranker("BAAI/bge-reranker-base")  # a known model, not cached, hub switched off
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    with pytest.raises(ModelNotFoundError, match="rerankit-test/no-such-reranker"):
        Reranker("rerankit-test/no-such-reranker")
    assert time.monotonic() - started < 20
