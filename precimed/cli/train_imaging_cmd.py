"""``precimed train-imaging --npz FILE --out DIR``: a CNN bundle from a MedMNIST-format file.

The bundle is written to ``DIR/<id>/`` (model, card, background images); point
``PRECIMED_USER_MODELS_DIR`` at ``DIR`` to use it in the app and the other commands.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from precimed.errors import PrecimedInputError


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "train-imaging", help="train an image CNN bundle from a MedMNIST-format .npz file")
    p.add_argument("--npz", required=True, help="file with train/val/test _images and _labels")
    p.add_argument("--out", required=True, help="models folder; the bundle goes to OUT/<id>/")
    p.add_argument("--id", dest="model_id", default=None, help="bundle id (default: <file>-cnn)")
    p.add_argument("--name", default=None, help="human-readable model name")
    p.add_argument("--classes", default=None, help="comma-separated class names, in label order")
    p.add_argument("--modality", action="append", default=None,
                   help="DICOM modality the images come from (repeatable; default OT)")
    p.add_argument("--epochs", type=int, default=20, help="training epochs (default 20)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(handler=run, text=_text)


def run(args: argparse.Namespace) -> dict[str, Any]:
    from precimed.training.medmnist import train_npz

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise PrecimedInputError(f"--out {out} is a file", expected="a folder for model bundles")
    classes = [c.strip() for c in args.classes.split(",")] if args.classes else None
    card = train_npz(Path(args.npz), out, model_id=args.model_id, name=args.name, classes=classes,
                     modalities=args.modality, epochs=args.epochs)
    metrics = card["evaluation"]["metrics"]
    head = metrics.get("auroc") or metrics.get("auroc_macro")
    return {"id": card["id"], "bundle": str(out / card["id"]), "task": card["task"],
            "classes": card["classes"], "input_shape": card["inputs"][0]["shape"],
            "n_train": card["training_data"]["n"], "metrics": metrics,
            "headline": {"name": "auroc" if "auroc" in metrics else "auroc_macro", **head},
            "use_with": f"PRECIMED_USER_MODELS_DIR={out}"}


def _text(result: dict[str, Any]) -> str:
    h = result["headline"]
    return (f"trained {result['id']} ({result['task']}, {len(result['classes'])} classes, "
            f"input {result['input_shape']}) on {result['n_train']} images\n"
            f"test {h['name']} {h['value']:.3f} (95% CI {h['ci95'][0]:.3f}–{h['ci95'][1]:.3f})\n"
            f"bundle: {result['bundle']}  (use it with {result['use_with']})")
