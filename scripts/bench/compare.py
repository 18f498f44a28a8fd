"""Runs `pix2pix bench --json` and the PyTorch reference side by side, interleaved over several
rounds on the same machine, and prints medians and ratios (Rust / PyTorch; below 1 is faster).
With --baseline, the other side is a second pix2pix binary instead (e.g. the build before a change).

usage (from the repository root, after `cargo build --release`):
    python3 scripts/bench/compare.py [--rounds 3] [--python PYTHON] [--binary B] [--device D]
        [--torch-device cpu|cuda] [--baseline OLD_BINARY]
        [-- flags for both sides, e.g. --batch_size 16 --precision bf16]
e.g.  python3 scripts/bench/compare.py --python .venv-reference/bin/python -- --netG unet_256 --crop_size 256
      python3 scripts/bench/compare.py --rounds 5 --baseline /tmp/pix2pix-before
PYTHON needs the pinned torch (scripts/reference/requirements.txt); PIX2PIX_PYTHON is the default.
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")


def run_json(cmd):
    """Runs a benchmark command: its JSON line, with `max_rss_mb`, the process's peak resident
    memory (from wait4 on that process alone)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if proc.returncode != 0:
        raise subprocess.CalledProcessError(proc.returncode, cmd, stdout, stderr)
    result = json.loads(stdout.strip().splitlines()[-1])
    # ru_maxrss is in KiB on Linux.
    result["max_rss_mb"] = usage.ru_maxrss * 1024 / 1e6
    return result


def add_side_arguments(parser, rounds):
    """--rounds, and the two sides: --python (PyTorch's) and --binary (ours)."""
    parser.add_argument("--rounds", type=int, default=rounds)
    parser.add_argument("--python", default=os.environ.get("PIX2PIX_PYTHON", "python3"))
    parser.add_argument("--binary", default=os.path.join(
        os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release", "pix2pix"))


def main():
    parser = argparse.ArgumentParser()
    add_side_arguments(parser, rounds=3)
    parser.add_argument("--device", help="pix2pix's --device (e.g. tch, cuda:0), for the Rust side only")
    parser.add_argument("--torch-device", default="cpu", help="the PyTorch side's device (cpu or cuda)")
    parser.add_argument("--baseline", help="a second pix2pix binary to compare with, instead of PyTorch")
    parser.add_argument("rest", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    flags = [f for f in args.rest if f != "--"]
    if not flags:
        flags = ["--netG", "unet_256", "--crop_size", "256", "--batch_size", "1"]

    ours_name, theirs_name = ("new", "baseline") if args.baseline else ("Rust", "PyTorch")
    ours, theirs = [], []
    for round_index in range(args.rounds):
        device = ["--device", args.device] if args.device else []
        ours.append(run_json([args.binary, "bench", "--json", *device, *flags]))
        if args.baseline:
            theirs.append(run_json([args.baseline, "bench", "--json", *device, *flags]))
        else:
            theirs.append(run_json([args.python, os.path.join(ROOT, "scripts", "bench", "pytorch_bench.py"),
                                    "--device", args.torch_device, *flags]))
        print(f"round {round_index + 1}/{args.rounds}: "
              f"{ours_name} {ours[-1]['train_step_ms']:.0f} ms/step, "
              f"{theirs_name} {theirs[-1]['train_step_ms']:.0f} ms/step",
              file=sys.stderr)

    def med(runs, key):
        return statistics.median(r[key] for r in runs)

    other = (f"baseline {args.baseline}" if args.baseline
             else f"torch {theirs[0]['torch']} ({theirs[0]['threads']} threads)")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; {other}; "
          f"Rust backend {ours[0]['backend']}")
    print(f"config: {' '.join(flags)}; medians of {args.rounds} interleaved rounds")
    print(f"{'':24}{ours_name:>12}{theirs_name:>12}{'ratio':>8}")
    for key, label in [("inference_ms", "G inference (ms)"), ("train_step_ms", "train step (ms)"),
                       ("first_train_step_ms", "first train step (ms)"), ("max_rss_mb", "peak memory (MB)")]:
        a, b = med(ours, key), med(theirs, key)
        print(f"{label:24}{a:12.1f}{b:12.1f}{a / b:8.2f}")


if __name__ == "__main__":
    main()
