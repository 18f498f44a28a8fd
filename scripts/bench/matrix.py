"""The speed matrix: every configuration of CONFIGS timed with `pix2pix bench --json` and the
PyTorch reference (pytorch_bench.py), in interleaved rounds (each round runs every configuration
once on each side, the side going first alternating), and a Markdown table of medians and ratios
(Rust / PyTorch; below 1 is faster), with each side's peak memory and how much each side's
step moved across the rounds (a run where PyTorch's own step moved over 20% is flagged). Every cell of one table comes
from one run of this script; BENCHMARKS.md's current-results table is such a table.

usage (from the repository root, after `cargo build --release`):
    python3 scripts/bench/matrix.py [--rounds 5] [--python PYTHON] [--binary B]
        [--only NAME ...] [--warmup 2] [--repeats 5] [--json-out FILE]
e.g.  python3 scripts/bench/matrix.py --only unet_64 --rounds 1     (one quick configuration)
PYTHON needs the pinned torch (scripts/reference/requirements.txt); PIX2PIX_PYTHON is the default.
A full run at 5 rounds takes most of an hour on the 2-core project machine.
"""

import argparse
import json
import os
import platform
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import ROOT, add_side_arguments, run_json  # noqa: E402

# (name, flags for both sides). Batch-4, -8 and -16 rows also report the time per image against
# the batch-1 row of the same network (batching must pay), bf16 rows their step against f32's.
CONFIGS = [
    ("unet_256", "--netG unet_256 --crop_size 256 --batch_size 1"),
    ("unet_256 b4", "--netG unet_256 --crop_size 256 --batch_size 4"),
    ("unet_256 b16", "--netG unet_256 --crop_size 256 --batch_size 16"),
    ("unet_256 512px", "--netG unet_256 --crop_size 512 --batch_size 1"),
    ("unet_256 bf16", "--netG unet_256 --crop_size 256 --batch_size 1 --precision bf16"),
    ("unet_128", "--netG unet_128 --crop_size 128 --batch_size 1"),
    ("unet_128 b8", "--netG unet_128 --crop_size 128 --batch_size 8"),
    ("resnet_9blocks", "--netG resnet_9blocks --crop_size 256 --batch_size 1"),
    ("resnet_9blocks instance", "--netG resnet_9blocks --crop_size 256 --batch_size 1 --norm instance"),
    ("resnet_9blocks bf16", "--netG resnet_9blocks --crop_size 256 --batch_size 1 --precision bf16"),
    ("resnet_6blocks", "--netG resnet_6blocks --crop_size 256 --batch_size 1"),
    ("resnet_6blocks instance", "--netG resnet_6blocks --crop_size 256 --batch_size 1 --norm instance"),
    ("resnet_6blocks instance 64px b2",
     "--netG resnet_6blocks --crop_size 64 --batch_size 2 --norm instance"),
    ("unet_256 gray->rgb", "--netG unet_256 --crop_size 256 --batch_size 1 --input_nc 1 --output_nc 3"),
    ("unet_64", "--netG unet_64 --crop_size 64 --batch_size 1"),
    ("unet_64 bf16", "--netG unet_64 --crop_size 64 --batch_size 1 --precision bf16"),
]

# PyTorch's step moving more than this across rounds marks the run as unsteady.
UNSTEADY = 0.2

# Batched and bf16 rows and the batch-1 f32 row they are compared with.
BASE = {"unet_256 b4": "unet_256", "unet_256 b16": "unet_256", "unet_256 bf16": "unet_256",
        "unet_128 b8": "unet_128", "unet_64 bf16": "unet_64", "resnet_9blocks bf16": "resnet_9blocks"}


def cpu():
    """The CPU's model name and the flags that choose our kernels, as /proc/cpuinfo gives them."""
    model, flags = "unknown CPU", set()
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                key, _, value = line.partition(":")
                if key.strip() == "model name":
                    model = value.strip()
                elif key.strip() == "flags":
                    flags = set(value.split())
    except OSError:
        pass
    wanted = ["avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile"]
    return model, [f for f in wanted if f in flags]


def main():
    parser = argparse.ArgumentParser()
    add_side_arguments(parser, rounds=5)
    parser.add_argument("--only", nargs="+", help="names of CONFIGS to run (default: all)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json-out", help="also write every run's JSON, one per line, here")
    args = parser.parse_args()
    names = [name for name, _ in CONFIGS]
    unknown = sorted(set(args.only or []) - set(names))
    if unknown:
        parser.error(f"unknown configurations {unknown}; known: {names}")
    configs = [(n, f.split()) for n, f in CONFIGS if not args.only or n in args.only]

    timing = ["--warmup", str(args.warmup), "--repeats", str(args.repeats)]
    pytorch = [args.python, os.path.join(ROOT, "scripts", "bench", "pytorch_bench.py")]
    runs = {name: {"ours": [], "theirs": []} for name, _ in configs}
    for round_index in range(args.rounds):
        for name, flags in configs:
            sides = [("ours", [args.binary, "bench", "--json", *flags, *timing]),
                     ("theirs", [*pytorch, *flags, *timing])]
            if round_index % 2 == 1:
                sides.reverse()
            for side, cmd in sides:
                result = run_json(cmd)
                result.update(config=name, side=side, round=round_index + 1)
                runs[name][side].append(result)
                if args.json_out:
                    with open(args.json_out, "a") as out:
                        out.write(json.dumps(result) + "\n")
            print(f"round {round_index + 1}/{args.rounds} {name}: "
                  f"{runs[name]['ours'][-1]['train_step_ms']:.0f} / "
                  f"{runs[name]['theirs'][-1]['train_step_ms']:.0f} ms per step", file=sys.stderr)

    def med(name, side, key):
        return statistics.median(r[key] for r in runs[name][side])

    def spread(name, side):
        """How far a side's step moved across the rounds, relative to its median: the steadiness
        of the machine during the run (PyTorch's side is the anchor, its code does not change)."""
        steps = [r["train_step_ms"] for r in runs[name][side]]
        return (max(steps) - min(steps)) / statistics.median(steps)

    first = next(iter(runs.values()))
    torch_side = first["theirs"][0]
    model, flags = cpu()
    print(f"CPU: {model}; flags: {' '.join(flags) or 'none of ours'}")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; torch {torch_side['torch']} "
          f"({torch_side['threads']} threads); Rust backend {first['ours'][0]['backend']}; "
          f"medians of {args.rounds} interleaved rounds, `bench --warmup {args.warmup} "
          f"--repeats {args.repeats}` on each side")
    products = {r.get("bf16_products") for v in runs.values() for r in v["ours"]} - {None}
    if products:
        print(f"our bf16 products ran on: {', '.join(sorted(products))}")
    print()
    print("| configuration | G inference, ms (ratio) | training step, ms (ratio) "
          "| step per image vs batch 1 f32 (batched, bf16 rows), ours / PyTorch | peak memory, MB (ratio) "
          "| step spread across rounds, ours / PyTorch |")
    print("|---|---|---|---|---|---|")
    for name, flags in configs:
        cells = []
        for key in ["inference_ms", "train_step_ms"]:
            a, b = med(name, "ours", key), med(name, "theirs", key)
            cells.append(f"{a:.1f} / {b:.1f} ({a / b:.2f})")
        base = BASE.get(name)
        if base in runs:
            batch = int(flags[flags.index("--batch_size") + 1])
            per_image = [med(name, side, "train_step_ms") / batch / med(base, side, "train_step_ms")
                         for side in ("ours", "theirs")]
            cells.append(f"{per_image[0]:.2f} / {per_image[1]:.2f}")
        else:
            cells.append("")
        a, b = med(name, "ours", "max_rss_mb"), med(name, "theirs", "max_rss_mb")
        cells.append(f"{a:.0f} / {b:.0f} ({a / b:.2f})")
        cells.append(f"{spread(name, 'ours'):.0%} / {spread(name, 'theirs'):.0%}")
        print(f"| {name} (`{' '.join(flags)}`) | " + " | ".join(cells) + " |")
    unsteady = [name for name, _ in configs if spread(name, "theirs") > UNSTEADY]
    if unsteady:
        print(f"\nPyTorch's own step moved by more than {UNSTEADY:.0%} across the rounds of "
              f"{', '.join(unsteady)}: the machine was not steady; rerun before comparing.")


if __name__ == "__main__":
    main()
