"""`coe zoo train-collage` / `coe zoo collage-accuracy`: the collage CNN of collage inference."""

from __future__ import annotations

import argparse
import json


def register_collage(commands: argparse._SubParsersAction) -> None:
    training = commands.add_parser(
        "train-collage",
        help="train the collage CNN (one class distribution per cell of an s x s collage)",
        description=(
            "Train the collage CNN on collages of cifar10-jpeg/train into COE_CACHE/zoo "
            "(which then takes precedence over zoo/weights/collage_cnn.pt), print its "
            "per-cell test accuracy. --ship copies the run into zoo/weights/ (maintainers)."
        ),
    )
    training.add_argument("--grid", type=int, default=2, choices=(2, 3))
    training.add_argument("--epochs", type=int, default=5)
    training.add_argument("--seed", type=int, default=7)
    training.add_argument("--threads", type=int, default=1)
    training.add_argument("--max-lr", type=float, default=0.05)
    training.add_argument("--partial-fraction", type=float, default=0.25)
    training.add_argument("--no-warm-start", action="store_true", help="random init, not cnn_a")
    training.add_argument("--ship", action="store_true", help="copy the run into zoo/weights/")
    training.add_argument("--json", action="store_true", help="print the training record")
    training.set_defaults(func=cmd_train_collage)

    shipping = commands.add_parser(
        "ship-collage", help="copy the cached collage-CNN run into zoo/weights/ (maintainers)"
    )
    shipping.set_defaults(func=cmd_ship_collage)

    scoring = commands.add_parser(
        "collage-accuracy", help="per-cell test accuracy of the collage CNN in use"
    )
    scoring.add_argument("--grid", type=int, default=2, choices=(2, 3))
    scoring.add_argument("--json", action="store_true", help="print one JSON list")
    scoring.set_defaults(func=cmd_collage_accuracy)


def cmd_train_collage(args: argparse.Namespace) -> int:
    from zoo.collage_train import CollageTrainConfig, ship, train_and_cache

    config = CollageTrainConfig(
        grid=args.grid,
        epochs=args.epochs,
        seed=args.seed,
        threads=args.threads,
        max_lr=args.max_lr,
        partial_fraction=args.partial_fraction,
        warm_start=not args.no_warm_start,
    )
    record = train_and_cache(config)
    if args.ship:
        ship()
    if args.json:
        print(json.dumps(record.model_dump(), indent=2))
    else:
        _print_accuracy(record.cell_accuracy)
        print(f"trained in {record.train_seconds:.0f} s wall; weights in the cache")
    return 0


def cmd_ship_collage(args: argparse.Namespace) -> int:
    from zoo.collage_train import ship

    entry = ship()
    print(f"shipped {entry.file} ({entry.bytes} bytes, sha256 {entry.sha256[:12]}...)")
    return 0


def cmd_collage_accuracy(args: argparse.Namespace) -> int:
    from zoo.collage_train import load_collage_model, score

    scores = score(load_collage_model(), args.grid)
    if args.json:
        print(json.dumps([s.model_dump() for s in scores], indent=2))
    else:
        _print_accuracy(scores)
    return 0


def _print_accuracy(scores) -> None:
    for s in scores:
        cells = " ".join("-" if a is None else f"{a:.4f}" for a in s.per_cell)
        print(f"grid {s.grid} {s.filled:7s} collages={s.collages:5d} mean={s.mean:.4f} "
              f"per-cell: {cells}")  # fmt: skip
