#!/usr/bin/env python3
"""PyTorch reference for the UNet part of `semiseg bench amvlm-seg`: LViT's UNet(3->1) (spec A6:
inc conv3x3-BN-ReLU; four downs of max-pool + two conv-BN-ReLU; four ups of a 2x2 transposed conv,
the skip concatenated, two conv-BN-ReLU; a 1x1 conv; 14,751,873 parameters at width 64), timed for
one Adam step of a student on labeled + unlabeled images (BCE + soft Dice, as semiseg's loss
terms) and the forward pass of its EMA teacher on the unlabeled ones. The frozen encoders and the
text mask generator are not in it: this times what dominates a step at the paper's size.

    python3 benches/pytorch_unet2d_step.py --device cpu --width 64 --size 224 --batch 4 --steps 3
and compare with the mean-teacher step (the UNets alone) of
    semiseg bench amvlm-seg --backend cpu --preset paper --no-text --batch-size 4 --steps 3
Prints one markdown row. Not part of the test suite (PyTorch is not a dependency of semiseg).
"""
import argparse
import copy
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def stack(n, cin, cout):
    layers = []
    for i in range(n):
        layers += [nn.Conv2d(cin if i == 0 else cout, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)


class Up(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.up = nn.ConvTranspose2d(cin // 2, cin // 2, 2, stride=2)
        self.conv = stack(2, cin, cout)

    def forward(self, x, skip):
        return self.conv(torch.cat([self.up(x), skip], 1))


class UNet(nn.Module):
    def __init__(self, w=64):
        super().__init__()
        self.inc = stack(1, 3, w)
        self.downs = nn.ModuleList([stack(2, w, 2 * w), stack(2, 2 * w, 4 * w), stack(2, 4 * w, 8 * w), stack(2, 8 * w, 8 * w)])
        self.up4, self.up3, self.up2, self.up1 = Up(16 * w, 4 * w), Up(8 * w, 2 * w), Up(4 * w, w), Up(2 * w, w)
        self.outc = nn.Conv2d(w, 1, 1)

    def forward(self, x):
        xs = [self.inc(x)]
        for d in self.downs:
            xs.append(d(F.max_pool2d(xs[-1], 2)))
        x = self.up4(xs[4], xs[3])
        x = self.up3(x, xs[2])
        x = self.up2(x, xs[1])
        x = self.up1(x, xs[0])
        return self.outc(x)


def bce_dice(z, t):
    p = torch.sigmoid(z)
    dice = 1 - (2 * (p * t).flatten(1).sum(1) + 1e-5) / ((p * p).flatten(1).sum(1) + (t * t).flatten(1).sum(1) + 1e-5)
    return 0.5 * (F.binary_cross_entropy_with_logits(z, t) + dice.mean())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--batch", type=int, default=16, help="labeled and unlabeled images, each")
    ap.add_argument("--steps", type=int, default=3)
    a = ap.parse_args()
    dev = torch.device(a.device)
    torch.manual_seed(1)
    student = UNet(a.width).to(dev)
    teacher = copy.deepcopy(student)
    for p in teacher.parameters():
        p.requires_grad_(False)
    opt = torch.optim.Adam(student.parameters(), lr=3e-4)
    n = sum(p.numel() for p in student.parameters())
    times = []
    for i in range(a.steps + 1):
        t0 = time.perf_counter()
        x_l = torch.rand(a.batch, 3, a.size, a.size, device=dev)
        y_l = (torch.rand(a.batch, 1, a.size, a.size, device=dev) > 0.5).float()
        x_u = torch.rand(a.batch, 3, a.size, a.size, device=dev)
        with torch.no_grad():
            z_t = teacher(x_u)
        z = student(torch.cat([x_l, x_u]))
        loss = bce_dice(z[: a.batch], y_l) + bce_dice(z[a.batch:], torch.sigmoid(z_t))
        opt.zero_grad()
        loss.backward()
        opt.step()
        with torch.no_grad():
            for pt, ps in zip(teacher.parameters(), student.parameters()):
                pt.mul_(0.99).add_(ps, alpha=0.01)
        if dev.type == "cuda":
            torch.cuda.synchronize()
        if i > 0:
            times.append(time.perf_counter() - t0)
    times.sort()
    print(f"| PyTorch {torch.__version__} {a.device} | UNet width {a.width} ({n:,} parameters) | {a.batch} + {a.batch} at {a.size}x{a.size} | {times[len(times) // 2]:.3f} s |")


if __name__ == "__main__":
    main()
