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

    training = commands.add_parser("train", help="train the small cheap-tier CNNs")
    training.add_argument("--models", nargs="+", default=None, help="default: all small CNNs")
    training.add_argument("--epochs", type=int, default=None, help="default: tuned per model")
    training.add_argument("--force", action="store_true", help="retrain even if weights exist")
    training.add_argument(
        "--threads", type=int, default=2, help="torch threads (1 is faster on a busy host)"
    )
    training.set_defaults(func=cmd_train)


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


def cmd_train(args: argparse.Namespace) -> int:
    from zoo.registry import SMALL_CNN_NAMES
    from zoo.train import read_record, train_and_cache, weights_file

    names = args.models or list(SMALL_CNN_NAMES)
    if args.threads < 1:
        raise ValueError("--threads must be >= 1")
    unknown = [n for n in names if n not in SMALL_CNN_NAMES]
    if unknown:
        raise ValueError(f"cannot train {unknown}; trainable models: {', '.join(SMALL_CNN_NAMES)}")
    started = time.perf_counter()
    for name in names:
        record = read_record(name)
        cached = record is not None and weights_file(name).exists() and not args.force
        if cached and (args.epochs is None or args.epochs == record.epochs):
            print(f"{name}: cached ({weights_file(name)}), use --force to retrain")
            continue
        record = train_and_cache(name, epochs=args.epochs, threads=args.threads)
        print(
            f"{name}: test {record.test_accuracy:.4f}  calibration "
            f"{record.calibration_accuracy:.4f}  {record.mflops:.2f} MFLOPs  "
            f"{record.params:,} params  {record.epochs} epochs  {record.train_seconds:.0f}s wall "
            f"({record.train_cpu_seconds:.0f} CPU-s)",
            flush=True,
        )
    print(f"total wall time {time.perf_counter() - started:.0f}s", file=sys.stderr)
    return 0
