#!/usr/bin/env python3
"""Generate the "sensors" example dataset of balmix's README ("Bring your own data").

A small two-sensor activity dataset, in the shape people record their own: windows of an
accelerometer (8 features) and a heart-rate strap (4 features) from 12 subjects doing three
activities. Each subject has their own offset on both sensors, so a split that puts windows of
one subject on both sides leaks; the accelerometer separates the activities better than the
heart-rate strap (a strong and a weak modality).

Files written to --out (default: the `data` folder next to this script):
  labels.csv  id,subject,activity     one line per window; activity is a class name
  accel.csv   id,a0..a7               the rows in another order than labels.csv
  heart.csv   id,h0..h3               the rows in yet another order

Only the Python standard library; the same bytes on every run (random.Random(seed)).
"""

import argparse
import os
import random

ACTIVITIES = ["walk", "run", "sit"]
SUBJECTS = 12
WINDOWS = 30  # per subject, the three activities in turn
ACCEL, HEART = 8, 4


def main() -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=os.path.join(here, "data"), help="folder to write")
    p.add_argument("--seed", type=int, default=7, help="generator seed (default 7)")
    a = p.parse_args()
    rng = random.Random(a.seed)

    def vec(n: int, scale: float) -> list:
        return [rng.gauss(0.0, scale) for _ in range(n)]

    accel_mean = [vec(ACCEL, 1.2) for _ in ACTIVITIES]
    heart_mean = [vec(HEART, 0.5) for _ in ACTIVITIES]
    rows = []  # (id, subject, activity, accel, heart)
    for s in range(SUBJECTS):
        subject = f"s{s + 1:02d}"
        accel_offset, heart_offset = vec(ACCEL, 1.0), vec(HEART, 1.0)
        for w in range(WINDOWS):
            c = w % len(ACTIVITIES)
            accel = [m + o + rng.gauss(0.0, 1.0) for m, o in zip(accel_mean[c], accel_offset)]
            heart = [m + o + rng.gauss(0.0, 1.0) for m, o in zip(heart_mean[c], heart_offset)]
            rows.append((f"{subject}-w{w:02d}", subject, ACTIVITIES[c], accel, heart))

    os.makedirs(a.out, exist_ok=True)

    def write(name: str, header: list, lines: list) -> None:
        path = os.path.join(a.out, name)
        with open(path, "w", newline="\n") as f:
            f.write(",".join(header) + "\n")
            for line in lines:
                f.write(",".join(line) + "\n")
        print(f"wrote {os.path.relpath(path)} ({len(lines)} rows)")

    write("labels.csv", ["id", "subject", "activity"], [[r[0], r[1], r[2]] for r in rows])
    accel_rows = list(rows)
    rng.shuffle(accel_rows)
    write(
        "accel.csv",
        ["id"] + [f"a{i}" for i in range(ACCEL)],
        [[r[0]] + [f"{v:.4f}" for v in r[3]] for r in accel_rows],
    )
    heart_rows = list(rows)
    rng.shuffle(heart_rows)
    write(
        "heart.csv",
        ["id"] + [f"h{i}" for i in range(HEART)],
        [[r[0]] + [f"{v:.4f}" for v in r[4]] for r in heart_rows],
    )


if __name__ == "__main__":
    main()
