#!/usr/bin/env python3
"""PyTorch reference for `semiseg bench simcvd`: the same V-Net (UA-MT / SSL4MIS, n_filters 16,
batch norm, Dropout3d on x5 and x9, tanh SDM head), the same projection head and the same SimCVD
losses (spec B4), timed for one training step of 2 labeled + 2 unlabeled 112x112x80 patches with an
EMA teacher, and sliding-window inference of a 144x120x88 volume (stride 18x18x4).

Run on the GPU machine (it has PyTorch):
    python3 benches/pytorch_simcvd_step.py --device cuda --steps 5
and compare with
    semiseg bench simcvd --backend cuda --steps 5
On a CPU: --device cpu against `semiseg bench simcvd --backend cpu`; --n-filters N for a
narrower V-Net (the browser's light one has 4).
Prints one markdown row in the format of docs/benchmarks.md. Not part of the test suite.
"""
import argparse
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class ConvBlock(nn.Module):
    def __init__(self, n, cin, cout):
        super().__init__()
        layers = []
        for i in range(n):
            layers += [nn.Conv3d(cin if i == 0 else cout, cout, 3, padding=1), nn.BatchNorm3d(cout), nn.ReLU(inplace=True)]
        self.conv = nn.Sequential(*layers)

    def forward(self, x):
        return self.conv(x)


def down(cin, cout):
    return nn.Sequential(nn.Conv3d(cin, cout, 2, stride=2), nn.BatchNorm3d(cout), nn.ReLU(inplace=True))


def up(cin, cout):
    return nn.Sequential(nn.ConvTranspose3d(cin, cout, 2, stride=2), nn.BatchNorm3d(cout), nn.ReLU(inplace=True))


class VNet(nn.Module):
    def __init__(self, f=16, n_classes=2, sdm=True):
        super().__init__()
        self.b1, self.d1 = ConvBlock(1, 1, f), down(f, 2 * f)
        self.b2, self.d2 = ConvBlock(2, 2 * f, 2 * f), down(2 * f, 4 * f)
        self.b3, self.d3 = ConvBlock(3, 4 * f, 4 * f), down(4 * f, 8 * f)
        self.b4, self.d4 = ConvBlock(3, 8 * f, 8 * f), down(8 * f, 16 * f)
        self.b5, self.u5 = ConvBlock(3, 16 * f, 16 * f), up(16 * f, 8 * f)
        self.b6, self.u6 = ConvBlock(3, 8 * f, 8 * f), up(8 * f, 4 * f)
        self.b7, self.u7 = ConvBlock(3, 4 * f, 4 * f), up(4 * f, 2 * f)
        self.b8, self.u8 = ConvBlock(2, 2 * f, 2 * f), up(2 * f, f)
        self.b9 = ConvBlock(1, f, f)
        self.seg = nn.Conv3d(f, n_classes, 1)
        self.sdm = nn.Conv3d(f, 1, 1) if sdm else None
        self.drop = nn.Dropout3d(0.5)

    def forward(self, x):
        x1 = self.b1(x)
        x2 = self.b2(self.d1(x1))
        x3 = self.b3(self.d2(x2))
        x4 = self.b4(self.d3(x3))
        x5 = self.drop(self.b5(self.d4(x4)))
        x6 = self.b6(self.u5(x5) + x4)
        x7 = self.b7(self.u6(x6) + x3)
        x8 = self.b8(self.u7(x7) + x2)
        x9 = self.drop(self.b9(self.u8(x8) + x1))
        return self.seg(x9), torch.tanh(self.sdm(x9)), x5


class Head(nn.Module):
    def __init__(self, pool=128, hidden=(512, 256), out=128):
        super().__init__()
        self.drop = nn.AlphaDropout(0.1)
        self.pool = nn.AdaptiveAvgPool2d(pool)
        dims = [pool * pool, *hidden, out]
        layers = []
        for i in range(len(dims) - 1):
            layers.append(nn.Linear(dims[i], dims[i + 1]))
            if i < len(dims) - 2:
                layers.append(nn.ReLU(inplace=True))
        self.mlp = nn.Sequential(*layers)

    def forward(self, x):  # [N, 1, X, Y, Z] -> [N*Z, D]
        n, c, sx, sy, sz = x.shape
        s = self.drop(x).permute(0, 4, 1, 2, 3).reshape(n * sz, c, sx, sy)
        return F.normalize(self.mlp(self.pool(s).flatten(1)), dim=1)


def seg_loss(logits, mask):
    logp = F.log_softmax(logits, 1)
    ce = -(mask * logp[:, 1:2] + (1 - mask) * logp[:, 0:1]).mean()
    p = F.softmax(logits, 1)[:, 1:2]
    dice = 1 - (2 * (p * mask).sum() + 1e-5) / ((p * p).sum() + (mask * mask).sum() + 1e-5)
    return 0.5 * (ce + dice)


def info_nce(hs, ht, tau=0.5):
    ht = ht.detach()
    logits = ht @ hs.t() / tau
    target = torch.arange(hs.shape[0], device=hs.device)
    return F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target)


def pairwise(fs, ft):
    vs = F.normalize(fs.flatten(2).transpose(1, 2), dim=2)
    vt = F.normalize(ft.detach().flatten(2).transpose(1, 2), dim=2)
    sim = vs @ vt.transpose(1, 2)
    return -torch.diagonal(F.log_softmax(sim, 2), dim1=1, dim2=2).mean()


def step(student, shead, teacher, thead, opt, lab, mask, sdm, unl):
    noise = lambda t: torch.clamp(torch.randn_like(t) * 0.1, -0.2, 0.2)
    seg, sd, feat = student(torch.cat([lab, unl + noise(unl)]))
    with torch.no_grad():
        tseg, tsd, tfeat = teacher(unl + noise(unl))
    lb = lab.shape[0]
    loss = seg_loss(seg[:lb], mask) + 0.1 * F.mse_loss(sd[:lb], sdm)
    con = F.mse_loss(F.softmax(seg[lb:], 1), F.softmax(tseg, 1))
    pd = pairwise(feat[lb:], tfeat)
    with torch.no_grad():
        ht = thead(unl + tsd)
    ctr = info_nce(shead(unl + sd[lb:]), ht)
    loss = loss + 0.5 * (0.5 * ctr + 0.1 * pd + 0.1 * con)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    with torch.no_grad():
        for t, s in zip(list(teacher.parameters()) + list(thead.parameters()), list(student.parameters()) + list(shead.parameters())):
            t.mul_(0.99).add_(s, alpha=0.01)
    return loss


def sliding_window(net, vol, patch=(112, 112, 80), stride=(18, 18, 4)):
    W, H, D = vol.shape
    score = torch.zeros((2, W, H, D), device=vol.device)
    cnt = torch.zeros((W, H, D), device=vol.device)
    sx = math.ceil((W - patch[0]) / stride[0]) + 1
    sy = math.ceil((H - patch[1]) / stride[1]) + 1
    sz = math.ceil((D - patch[2]) / stride[2]) + 1
    with torch.no_grad():
        for x in range(sx):
            xs = min(stride[0] * x, W - patch[0])
            for y in range(sy):
                ys = min(stride[1] * y, H - patch[1])
                for z in range(sz):
                    zs = min(stride[2] * z, D - patch[2])
                    p = vol[xs:xs + patch[0], ys:ys + patch[1], zs:zs + patch[2]][None, None]
                    score[:, xs:xs + patch[0], ys:ys + patch[1], zs:zs + patch[2]] += F.softmax(net(p)[0], 1)[0]
                    cnt[xs:xs + patch[0], ys:ys + patch[1], zs:zs + patch[2]] += 1
    return (score / cnt).argmax(0), sx * sy * sz


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--n-filters", type=int, default=16)
    args = ap.parse_args()
    dev = torch.device(args.device)
    torch.manual_seed(1)
    f = args.n_filters
    student, shead = VNet(f).to(dev), Head().to(dev)
    n_params = sum(p.numel() for p in student.parameters())
    teacher, thead = VNet(f).to(dev), Head().to(dev)
    teacher.load_state_dict(student.state_dict())
    thead.load_state_dict(shead.state_dict())
    for p in list(teacher.parameters()) + list(thead.parameters()):
        p.requires_grad_(False)
    opt = torch.optim.SGD(list(student.parameters()) + list(shead.parameters()), lr=0.01, momentum=0.9, weight_decay=5e-4)
    shape = (2, 1, 112, 112, 80)
    lab, unl = torch.rand(shape, device=dev) * 2 - 1, torch.rand(shape, device=dev) * 2 - 1
    g = torch.stack(torch.meshgrid(*[torch.linspace(-0.5, 0.5, s, device=dev) for s in shape[2:]], indexing="ij"))
    mask = ((g ** 2).sum(0) < 0.06).float()[None, None].expand(2, 1, *shape[2:]).contiguous()
    sdm = torch.zeros_like(mask)
    times = []
    for i in range(args.steps + 1):
        if dev.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        step(student, shead, teacher, thead, opt, lab, mask, sdm, unl)
        if dev.type == "cuda":
            torch.cuda.synchronize()
        if i > 0:
            times.append(time.perf_counter() - t0)
    times.sort()
    student.eval()
    vol = torch.zeros((144, 120, 88), device=dev)
    t0 = time.perf_counter()
    _, windows = sliding_window(student, vol)
    if dev.type == "cuda":
        torch.cuda.synchronize()
    infer = time.perf_counter() - t0
    peak = torch.cuda.max_memory_allocated() / 2 ** 30 if dev.type == "cuda" else float("nan")
    print(f"V-Net parameters (seg + SDM head): {n_params:,} (spec B2: 9,448,866 + 17)")
    print(f"| pytorch {torch.__version__} {args.device} ({torch.get_num_threads()} threads) | {f} | 112x112x80 | {times[len(times) // 2]:.3f} s | {infer:.2f} s ({windows} windows) | {peak:.2f} GiB (allocated) |")


if __name__ == "__main__":
    main()
