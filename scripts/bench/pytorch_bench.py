"""The PyTorch side of the benchmark: the official networks (scripts/reference/networks.py) and
the official pix2pix step, timed like `pix2pix bench` (warm-up, then the median of repeated
calls). Prints one JSON object with the same fields.

usage: pytorch_bench.py --netG unet_256 --crop_size 256 --batch_size 1 [--device cpu|cuda]
       [--warmup 2] [--repeats 5] [--precision f32|bf16|f16] [--norm batch|instance|none]
       [--input_nc 3] [--output_nc 3] [--ngf 64] [--ndf 64] [--netD basic] [--profile]
--precision bf16/f16 runs the networks under torch.autocast, as `pix2pix --precision` does.
--profile then runs --repeats more steps under torch.profiler and prints, on stderr, the time of
each operator and input shape over them, longest first (the counterpart of `bench --profile`).
"""

import argparse
import json
import os
import statistics
import sys
import time

import torch
from torch import nn

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "reference"))
from networks import define_D, define_G  # noqa: E402


def timed(fn, warmup, repeats, device):
    """(first call, median of the calls after the warm-up), in ms."""
    samples = []
    for _ in range(warmup + max(repeats, 1)):
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device == "cuda":
            torch.cuda.synchronize()
        samples.append((time.perf_counter() - start) * 1e3)
    return samples[0], statistics.median(samples[warmup:])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--netG", default="unet_256")
    parser.add_argument("--netD", default="basic")
    parser.add_argument("--ngf", type=int, default=64)
    parser.add_argument("--ndf", type=int, default=64)
    parser.add_argument("--norm", choices=["batch", "instance", "none"], default="batch")
    parser.add_argument("--input_nc", type=int, default=3)
    parser.add_argument("--output_nc", type=int, default=3)
    parser.add_argument("--crop_size", type=int, default=256)
    parser.add_argument("--batch_size", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--precision", choices=["f32", "bf16", "f16"], default="f32")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()

    device = args.device
    a_nc, b_nc = args.input_nc, args.output_nc
    net_g = define_G(a_nc, b_nc, args.ngf, args.netG, args.norm, True).to(device)
    net_d = define_D(a_nc + b_nc, args.ndf, args.netD, norm=args.norm).to(device)
    n, size = args.batch_size, args.crop_size
    real_a = torch.rand(n, a_nc, size, size, device=device) * 2 - 1
    real_b = torch.rand(n, b_nc, size, size, device=device) * 2 - 1
    low = {"bf16": torch.bfloat16, "f16": torch.float16}.get(args.precision)
    autocast = torch.autocast(device_type=device, dtype=low or torch.bfloat16, enabled=low is not None)

    net_g.eval()

    def infer():
        with torch.no_grad(), autocast:
            net_g(real_a)

    first_inference_ms, inference_ms = timed(infer, args.warmup, args.repeats, device)

    net_g.train()
    net_d.train()
    opt_g = torch.optim.Adam(net_g.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(net_d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    bce = nn.BCEWithLogitsLoss()
    l1 = nn.L1Loss()

    def step():
        with autocast:
            fake_b = net_g(real_a)
        for p in net_d.parameters():
            p.requires_grad = True
        opt_d.zero_grad()
        with autocast:
            pred_fake = net_d(torch.cat((real_a, fake_b), 1).detach())
            pred_real = net_d(torch.cat((real_a, real_b), 1))
            loss_d = 0.5 * (bce(pred_fake, torch.zeros_like(pred_fake)) + bce(pred_real, torch.ones_like(pred_real)))
        loss_d.backward()
        opt_d.step()
        for p in net_d.parameters():
            p.requires_grad = False
        opt_g.zero_grad()
        with autocast:
            pred_fake = net_d(torch.cat((real_a, fake_b), 1))
            loss_g = bce(pred_fake, torch.ones_like(pred_fake)) + 100.0 * l1(fake_b, real_b)
        loss_g.backward()
        opt_g.step()
        loss_g.item()

    first_train_step_ms, train_step_ms = timed(step, args.warmup, args.repeats, device)
    if args.profile:
        from torch.profiler import ProfilerActivity, profile

        steps = max(args.repeats, 1)
        with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
            for _ in range(steps):
                step()
        print(f"PyTorch's operators over {steps} training steps:", file=sys.stderr)
        table = prof.key_averages(group_by_input_shape=True).table(
            sort_by="self_cpu_time_total", row_limit=40, max_name_column_width=40,
            max_shapes_column_width=80)
        print(table, file=sys.stderr)
    print(json.dumps({
        "backend": "pytorch", "device": device, "precision": args.precision,
        "torch": torch.__version__, "threads": torch.get_num_threads(),
        "net_g": args.netG, "net_d": args.netD, "crop_size": size, "batch_size": n,
        "repeats": args.repeats, "inference_ms": inference_ms, "inference_ms_per_image": inference_ms / n,
        "train_step_ms": train_step_ms, "train_images_per_s": n * 1e3 / train_step_ms,
        "first_inference_ms": first_inference_ms, "first_train_step_ms": first_train_step_ms,
    }))


if __name__ == "__main__":
    main()
