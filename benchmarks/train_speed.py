"""Tutorial loop vs ecgnb trainer, in one process, on the real data and the same model (E=128).

Prints sequences/s of each and their ratio; time to the tutorial's validation L1 milestones
(<=15 at its epoch 41, <=12 at 78, <=9.72 at 131, from its published log) for ecgnb, set
against the loop's measured seconds per epoch times those epochs; and the time to score all
5,000 heartbeats.

    python -m benchmarks.train_speed                  # the default report's recipe, E=128
    python -m benchmarks.train_speed -p batch_size 8  # any Config override
    python -m benchmarks.train_speed --minutes 3      # shorter time budget for ecgnb
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from benchmarks import tutorial
from ecgnb import config, data, ecg5000_files, score, train

MILESTONES = {15.0: 41, 12.0: 78, 9.72: 131}  # val L1 -> tutorial epoch that first reached it


def tutorial_seconds_per_epoch(split: data.Split, sequences: int) -> dict[str, float]:
    """Time the faithful batch-1 loop on ``sequences`` training beats and a full val pass."""
    torch.manual_seed(0)
    model = tutorial.RecurrentAutoencoder(140, 1, 128)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    start = time.perf_counter()
    tutorial.train_epoch(model, optimizer, tutorial.create_dataset(split.train[:sequences]))
    seq_per_s = sequences / (time.perf_counter() - start)
    start = time.perf_counter()
    tutorial.validate(model, tutorial.create_dataset(split.val))
    val_s = time.perf_counter() - start
    return {"seq_per_s": seq_per_s, "epoch_s": len(split.train) / seq_per_s + val_s}


def ecgnb_time_to_quality(split: data.Split, cfg: config.Config, minutes: float) -> dict:
    """Train with ``cfg`` until val L1 <= 9.72 or ``minutes`` pass; note when each milestone falls."""
    reached: dict[float, float] = {}
    train_seconds: list[float] = []

    def watch(row: dict) -> bool:
        train_seconds.append(row["seconds"])
        for level in MILESTONES:
            if row["val_l1"] <= level and level not in reached:
                reached[level] = row["seconds"]
        return min(MILESTONES) in reached or row["seconds"] > minutes * 60

    model = train.build_model(cfg)
    history = train.fit(model, split.train, split.val, cfg, val_anomalies=split.val_anomalies, progress=False,
                        on_epoch=watch)
    epochs = int(history.epoch.max())
    return {"model": model, "reached": reached, "epochs": epochs, "best_val_l1": float(history.val_l1.min()),
            "seq_per_s": len(history) * len(split.train) / history.seconds.max()}  # every member's sequences


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-f", dest="files", action="append", default=[], help="params file (default: params/default.yaml)")
    parser.add_argument("-p", nargs=2, action="append", default=[], metavar=("KEY", "VALUE"), help="override")
    parser.add_argument("--minutes", type=float, default=12.0, help="time budget for ecgnb's run (default: 12)")
    parser.add_argument("--loop-sequences", type=int, default=300, help="beats timed in the batch-1 loop (default: 300)")
    args = parser.parse_args()
    overrides = {"embedding_dim": 128, "epochs": 60, "patience": 0}
    overrides.update({k: config.parse_value(v) for k, v in args.p})
    cfg = config.load(args.files or ["params/default.yaml"], overrides)
    split = data.split(ecg5000_files.load(cfg.data_path), seed=cfg.seed, val_anomaly_fraction=cfg.val_anomaly_fraction)

    loop = tutorial_seconds_per_epoch(split, args.loop_sequences)
    ours = ecgnb_time_to_quality(split, cfg, args.minutes)
    beats = np.concatenate([split.train, split.val, split.test, split.anomalies])
    start = time.perf_counter()
    score.score(ours["model"], beats)
    score_s = time.perf_counter() - start

    print(f"threads {torch.get_num_threads()}, recipe: " + ", ".join(f"{k}={getattr(cfg, k)}" for k in config.TRAINING_KEYS))
    print(f"tutorial loop (batch 1): {loop['seq_per_s']:.1f} seq/s, {loop['epoch_s']:.1f} s/epoch")
    print(f"ecgnb trainer:           {ours['seq_per_s']:.1f} seq/s  -> throughput ratio {ours['seq_per_s'] / loop['seq_per_s']:.2f}x")
    print(f"ecgnb: {ours['epochs']} epochs, best val L1 {ours['best_val_l1']:.2f}")
    for level, epoch in MILESTONES.items():
        loop_s = loop["epoch_s"] * epoch
        got = ours["reached"].get(level)
        verdict = f"{got:.0f} s -> {loop_s / got:.1f}x sooner" if got else "not reached in the budget"
        print(f"val L1 <= {level:5.2f}: tutorial epoch {epoch:3d} = {loop_s:6.0f} s; ecgnb {verdict}")
    print(f"scoring all {len(beats)} heartbeats: {score_s:.2f} s")
    print(json.dumps({"loop": loop, "ecgnb_seq_per_s": ours["seq_per_s"], "reached": ours["reached"],
                      "best_val_l1": ours["best_val_l1"], "score_s": score_s}))


if __name__ == "__main__":
    main()
