"""``rerankit export``: a cross-encoder or bi-encoder as an ONNX folder."""

from __future__ import annotations

import argparse
from typing import Any, TextIO


def _cmd_export(args: argparse.Namespace, out: TextIO) -> int:
    from rerankit.export import export_onnx

    result = export_onnx(
        args.model, args.out, quantize=None if args.quantize == "none" else args.quantize,
        optimize=not args.no_optimize, backend=args.backend,
        trust_remote_code=args.trust_remote_code, revision=args.revision,
        overwrite=args.overwrite,
    )
    out.write(result.summary() + "\n")
    out.write(f"load it with Reranker({str(result.folder)!r}) or "
              f"`rerankit serve --model {result.folder}` (no torch needed)\n")
    return 0


def add_export_command(commands: Any) -> None:
    """Register ``rerankit export``."""
    command = commands.add_parser(
        "export", help="export a cross-encoder or bi-encoder to ONNX (fp32 or int8)",
        description="Trace the model to ONNX, fuse attention/LayerNorm/GELU for onnxruntime "
        "where the architecture allows, optionally quantize the weights to int8, check the "
        "result against torch, and write a folder Reranker(DIR) loads without torch.",
    )
    command.add_argument("model", help="hub id, local folder or alias")
    command.add_argument("--format", choices=["onnx"], default="onnx")
    command.add_argument("--quantize", choices=["none", "int8", "int8-full"], default="none",
                         help="dynamic int8 quantization: all weights but the FFN output "
                         "projections (int8: ranks like fp32), or every weight (int8-full: "
                         "fastest, least faithful)")
    command.add_argument("--out", required=True, help="folder to write")
    command.add_argument("--no-optimize", action="store_true",
                         help="keep the traced graph (no onnxruntime transformer fusions)")
    command.add_argument("--backend", choices=["cross-encoder", "bi-encoder"])
    command.add_argument("--trust-remote-code", action="store_true")
    command.add_argument("--revision")
    command.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    command.set_defaults(run=_cmd_export)
