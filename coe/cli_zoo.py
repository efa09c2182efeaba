"""`coe zoo`: list, evaluate and train the model pool."""

from __future__ import annotations

import argparse
import json
import sys
import time


def register(subparsers: argparse._SubParsersAction) -> None:
    zoo = subparsers.add_parser("zoo", help="list, evaluate and train the model pool")
    commands = zoo.add_subparsers(dest="zoo_command", required=True)

    listing = commands.add_parser("list", help="models with params, MFLOPs (MACs) and accuracy")
    listing.add_argument("--json", action="store_true", help="print a JSON list")
    listing.set_defaults(func=cmd_list)

    evaluation = commands.add_parser("eval", help="accuracy of one model on a dataset split")
    evaluation.add_argument(
        "model", help="registered name or torchvision:/torchscript:/module: spec"
    )
    evaluation.add_argument("--dataset", required=True, help="cifar10-jpeg or cifar10-lossless-200")
    evaluation.add_argument("--split", default="all", help="calibration | test | all | train")
    evaluation.add_argument("--json", action="store_true", help="print one JSON object")
    evaluation.set_defaults(func=cmd_eval)

    training = commands.add_parser(
        "train",
        help="train the small cheap-tier CNNs (distilled from the ResNets) into the cache",
        description=(
            "Train small CNNs into COE_CACHE/zoo (which then takes precedence over the "
            "weights shipped in zoo/weights/). Without --force, a model whose cached or "
            "shipped weights match the requested options is not retrained."
        ),
    )
    training.add_argument("names", nargs="*", help="models to train (default: all small CNNs)")
    training.add_argument("--models", nargs="+", default=None, help="same as the positional names")
    training.add_argument("--epochs", type=int, default=None, help="default: tuned per model")
    training.add_argument("--seed", type=int, default=None, help="default: fixed per model")
    training.add_argument("--force", action="store_true", help="retrain even if weights exist")
    training.add_argument(
        "--threads", type=int, default=2, help="torch threads (1 is faster on a busy host)"
    )
    training.add_argument(
        "--teachers", nargs="+", default=None, help="teacher ensemble (default resnet20..56)"
    )
    training.add_argument("--temperature", type=float, default=None, help="default 4")
    training.add_argument(
        "--alpha", type=float, default=None, help="weight of the soft-label loss (default 0.8)"
    )
    training.add_argument(
        "--no-distill", action="store_true", help="plain cross-entropy, no teacher"
    )
    training.add_argument(
        "--ship",
        action="store_true",
        help="maintainers: copy the cached run into zoo/weights/ and its manifest",
    )
    training.set_defaults(func=cmd_train)

    diversity = commands.add_parser(
        "disagreement",
        help="test accuracy and pairwise disagreement (argmax differs) of the pool's models",
    )
    diversity.add_argument("models", nargs="*", help="default: every available model")
    diversity.add_argument("--dataset", default="cifar10-jpeg")
    diversity.add_argument("--split", default="test")
    diversity.add_argument("--json", action="store_true", help="print one JSON object")
    diversity.set_defaults(func=cmd_disagreement)

    export = commands.add_parser(
        "export",
        help="write a member as a self-contained ONNX graph (serve it as onnx:<file>)",
        description="The graph takes uint8 pixels (N, 3, S, S) and includes the member's "
        "preprocessing. Then checks that onnxruntime and torch agree on random images.",
    )
    export.add_argument("model", help="registered name or torchvision:/torchscript:/module: spec")
    export.add_argument("--format", choices=["onnx"], default="onnx")
    export.add_argument("--out", default=None, help="default: COE_CACHE/onnx/<model>.onnx")
    export.add_argument("--opset", type=int, default=17)
    export.add_argument("--json", action="store_true", help="print one JSON object")
    export.set_defaults(func=cmd_export)
    from coe.cli_zoo_collage import register_collage

    register_collage(commands)


def cmd_list(args: argparse.Namespace) -> int:
    from zoo.registry import list_models

    infos = list_models()
    if args.json:
        print(json.dumps([info.model_dump() for info in infos], indent=2))
        return 0
    print("MFLOPs = millions of multiply-accumulates per 32x32 image (FlopCounterMode / 2);")
    print("accuracy = cached top-1 on cifar10-jpeg test split (5,000 images), '-' if not run yet")
    print(f"{'name':<10} {'params':>9} {'MFLOPs':>8} {'accuracy':>9} {'ready':>5}  source")
    for info in infos:
        acc = f"{info.cached_accuracy:.4f}" if info.cached_accuracy is not None else "-"
        ready = "yes" if info.available else "no"
        print(
            f"{info.name:<10} {info.params:>9,} {info.mflops:>8.2f} {acc:>9} {ready:>5}  "
            f"{info.source}"
        )
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from zoo.evaluate import evaluate

    result = evaluate(args.model, args.dataset, args.split)
    if args.json:
        payload = result.model_dump(include={"model", "dataset", "split", "n", "accuracy"})
        print(json.dumps(payload))
    else:
        print(
            f"{result.model} on {result.dataset}/{result.split}: "
            f"accuracy {result.accuracy:.4f} ({result.n} images)"
        )
    return 0


def _matches(record, args: argparse.Namespace) -> bool:
    """Whether existing weights were trained with every option the user asked for."""
    if args.epochs is not None and args.epochs != record.epochs:
        return False
    if args.seed is not None and args.seed != record.seed:
        return False
    distilled = record.distillation
    if args.no_distill:
        return distilled is None
    if args.teachers or args.temperature is not None or args.alpha is not None:
        if distilled is None:
            return False
        if args.teachers and list(args.teachers) != [t.name for t in distilled.teachers]:
            return False
        if args.temperature is not None and args.temperature != distilled.temperature:
            return False
        if args.alpha is not None and args.alpha != distilled.alpha:
            return False
    return True


def cmd_train(args: argparse.Namespace) -> int:
    from zoo.registry import SMALL_CNN_NAMES
    from zoo.shipped import ship, shipped_file
    from zoo.train import read_cached_record, read_record, train_and_cache, weights_file

    names = list(dict.fromkeys([*args.names, *(args.models or [])])) or list(SMALL_CNN_NAMES)
    if args.threads < 1:
        raise ValueError("--threads must be >= 1")
    unknown = [n for n in names if n not in SMALL_CNN_NAMES]
    if unknown:
        raise ValueError(f"cannot train {unknown}; trainable models: {', '.join(SMALL_CNN_NAMES)}")
    started = time.perf_counter()
    for name in names:
        record = read_record(name)
        if record is not None and not args.force and _matches(record, args):
            if read_cached_record(name) is not None:
                print(f"{name}: cached ({weights_file(name)}), use --force to retrain")
                if args.ship:
                    entry = ship(name)
                    print(f"{name}: shipped as zoo/weights/{entry.file} ({entry.dtype})")
            else:
                print(f"{name}: shipped ({shipped_file(name)}), use --force to retrain")
            continue
        record = train_and_cache(
            name,
            epochs=args.epochs,
            seed=args.seed,
            threads=args.threads,
            teachers=tuple(args.teachers) if args.teachers else None,
            temperature=args.temperature,
            alpha=args.alpha,
            distill=not args.no_distill,
        )
        print(
            f"{name}: test {record.test_accuracy:.4f}  calibration "
            f"{record.calibration_accuracy:.4f}  {record.mflops:.2f} MFLOPs  "
            f"{record.layers} layers  {record.params:,} params  {record.epochs} epochs  "
            f"{record.train_seconds:.0f}s wall ({record.train_cpu_seconds:.0f} CPU-s)",
            flush=True,
        )
        if args.ship:
            entry = ship(name)
            print(f"{name}: shipped as zoo/weights/{entry.file} ({entry.dtype}, {entry.bytes} B)")
    print(f"total wall time {time.perf_counter() - started:.0f}s", file=sys.stderr)
    return 0


def cmd_disagreement(args: argparse.Namespace) -> int:
    from zoo.disagreement import pool_disagreement
    from zoo.registry import list_models

    models = args.models or [info.name for info in list_models() if info.available]
    if len(models) < 2:
        raise ValueError("need at least 2 models to compare (run `coe zoo train`)")
    report = pool_disagreement(models, args.dataset, args.split)
    if args.json:
        print(json.dumps(report.model_dump()))
        return 0
    width = max(len(m) for m in report.models) + 1
    print(
        f"{report.dataset}/{report.split} ({report.n} images): accuracy, and the fraction of "
        "images on which two models' argmax labels differ"
    )
    print(" " * width + "".join(f"{m:>{width}}" for m in report.models) + f"{'accuracy':>10}")
    for name, row in zip(report.models, report.disagreement, strict=True):
        cells = "".join(f"{v:>{width}.3f}" for v in row)
        print(f"{name:<{width}}{cells}{report.accuracy[name]:>10.4f}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from pathlib import Path

    from foundation.paths import cache_root
    from zoo.onnx_export import compare_onnx, export_onnx

    default_name = "".join(c if c.isalnum() or c in "-_" else "_" for c in args.model)
    out = Path(args.out) if args.out else cache_root() / "onnx" / f"{default_name}.onnx"
    result = export_onnx(args.model, out, opset=args.opset)
    gap = compare_onnx(args.model, out)
    if args.json:
        print(json.dumps(result.model_dump() | {"max_abs_diff_probs": gap}))
    else:
        print(f"{result.model} -> {result.path} (ONNX opset {result.opset}, input uint8 "
              f"N x 3 x {result.input_size} x {result.input_size}); serve it as "
              f"onnx:{result.path}")
        print(f"onnxruntime vs torch on 16 random images: max |probability difference| {gap:.2e}")
    return 0
