"""Writes the parity fixtures of tests/parity.rs into tests/fixtures/parity/ (a few hundred KB).

Run from the repository root with the pinned PyTorch (see README.md beside this file):
    python scripts/reference/generate.py
Every case is deterministic (seeded) and small: ngf 4, ndf 8, 32-64 px.
"""

import os
import sys
import zlib

import torch
from torch import nn

sys.path.insert(0, os.path.dirname(__file__))
from networks import define_D, define_G  # noqa: E402

OUT = os.path.join("tests", "fixtures", "parity")
NGF = 4
NDF = 8


def save(obj, name):
    torch.save(obj, os.path.join(OUT, name))


def warm_up_running_stats(net, channels, size, steps=3):
    """A few train-mode forwards so that running statistics differ from their initial values."""
    net.train()
    with torch.no_grad():
        for _ in range(steps):
            net(torch.randn(2, channels, size, size) * 0.7 + 0.1)


def generator_case(name, net_g, norm, dropout, input_nc=3, output_nc=3, size=32, batch=2):
    torch.manual_seed(zlib.crc32(name.encode()))
    net = define_G(input_nc, output_nc, NGF, net_g, norm, dropout)
    warm_up_running_stats(net, input_nc, size)
    save(net.state_dict(), f"{name}.pth")
    x = torch.rand(batch, input_nc, size, size) * 2 - 1
    io = {"input": x}
    with torch.no_grad():
        net.eval()
        io["eval"] = net(x)
        if not dropout:
            net.train()
            io["train"] = net(x)
    save(io, f"{name}_io.pth")


def discriminator_case(name, net_d, norm, n_layers_d=3, input_nc=6, size=32):
    torch.manual_seed(zlib.crc32(name.encode()))
    net = define_D(input_nc, NDF, net_d, n_layers_d, norm)
    warm_up_running_stats(net, input_nc, size)
    save(net.state_dict(), f"{name}.pth")
    x = torch.rand(2, input_nc, size, size) * 2 - 1
    with torch.no_grad():
        net.eval()
        out_eval = net(x)
        net.train()
        out_train = net(x)
    save({"input": x, "eval": out_eval, "train": out_train}, f"{name}_io.pth")


def training_step_case():
    """One complete pix2pix step (models/pix2pix_model.py optimize_parameters), vanilla GAN,
    lambda_L1 100, Adam(2e-4, (0.5, 0.999)), batch 2, no dropout."""
    torch.manual_seed(7)
    net_g = define_G(3, 3, NGF, "unet_32", "batch", False)
    net_d = define_D(6, NDF, "basic", 3, "batch")
    save(net_g.state_dict(), "step_G_before.pth")
    save(net_d.state_dict(), "step_D_before.pth")
    real_a = torch.rand(2, 3, 32, 32) * 2 - 1
    real_b = torch.rand(2, 3, 32, 32) * 2 - 1
    opt_g = torch.optim.Adam(net_g.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(net_d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    bce = nn.BCEWithLogitsLoss()
    net_g.train()
    net_d.train()

    fake_b = net_g(real_a)
    for p in net_d.parameters():
        p.requires_grad = True
    opt_d.zero_grad()
    pred_fake = net_d(torch.cat((real_a, fake_b), 1).detach())
    loss_d_fake = bce(pred_fake, torch.zeros_like(pred_fake))
    pred_real = net_d(torch.cat((real_a, real_b), 1))
    loss_d_real = bce(pred_real, torch.ones_like(pred_real))
    ((loss_d_fake + loss_d_real) * 0.5).backward()
    opt_d.step()

    for p in net_d.parameters():
        p.requires_grad = False
    opt_g.zero_grad()
    pred_fake = net_d(torch.cat((real_a, fake_b), 1))
    loss_g_gan = bce(pred_fake, torch.ones_like(pred_fake))
    loss_g_l1 = nn.L1Loss()(fake_b, real_b) * 100.0
    (loss_g_gan + loss_g_l1).backward()
    opt_g.step()

    save(net_g.state_dict(), "step_G_after.pth")
    save(net_d.state_dict(), "step_D_after.pth")
    save({
        "real_A": real_a, "real_B": real_b,
        "D_fake": loss_d_fake.detach(), "D_real": loss_d_real.detach(),
        "G_GAN": loss_g_gan.detach(), "G_L1": loss_g_l1.detach(),
    }, "step_io.pth")


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.use_deterministic_algorithms(True)
    generator_case("G_unet32_batch", "unet_32", "batch", False)
    generator_case("G_unet64_instance", "unet_64", "instance", False, size=64, batch=1)
    generator_case("G_unet32_none_gray", "unet_32", "none", False, input_nc=1, output_nc=3)
    generator_case("G_unet64_batch_dropout", "unet_64", "batch", True, size=64)
    generator_case("G_resnet6_batch", "resnet_6blocks", "batch", False)
    generator_case("G_resnet6_instance_dropout", "resnet_6blocks", "instance", True)
    discriminator_case("D_basic_batch", "basic", "batch")
    discriminator_case("D_nlayers1_instance", "n_layers", "instance", n_layers_d=1)
    discriminator_case("D_pixel_batch", "pixel", "batch")
    training_step_case()
    # The same pixel discriminator in the legacy (pre-1.6, non-zip) torch.save format.
    legacy = torch.load(os.path.join(OUT, "D_pixel_batch.pth"), weights_only=True)
    torch.save(legacy, os.path.join(OUT, "D_pixel_batch_legacy.pth"), _use_new_zipfile_serialization=False)
    print(f"fixtures written to {OUT} with torch {torch.__version__}")


if __name__ == "__main__":
    main()
