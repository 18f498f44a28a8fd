"""Loads a generator state_dict exported by `pix2pix export` into the official network with
load_state_dict(strict=True) and prints the largest difference of its eval-mode output from the
expected one. Used by tests/parity.rs when PIX2PIX_PYTHON names a Python with the pinned torch.

usage: check_export.py EXPORTED.pth NET_G NGF NORM INPUT_NC OUTPUT_NC DROPOUT(0|1) IO.pth
"""

import os
import sys

import torch

sys.path.insert(0, os.path.dirname(__file__))
from networks import define_G  # noqa: E402


def main():
    path, net_g, ngf, norm, input_nc, output_nc, dropout, io_path = sys.argv[1:9]
    net = define_G(int(input_nc), int(output_nc), int(ngf), net_g, norm, dropout == "1")
    state = torch.load(path, map_location="cpu", weights_only=True)
    net.load_state_dict(state, strict=True)
    io = torch.load(io_path, map_location="cpu", weights_only=True)
    net.eval()
    with torch.no_grad():
        out = net(io["input"])
    print(f"max_abs_diff {(out - io['eval']).abs().max().item():.3e}")


if __name__ == "__main__":
    main()
