"""Trains the foreign zoo: Fashion-MNIST classifiers built outside the project's own trainer.

Why: every model the trojan verdict was designed, calibrated and tested on came from `tools/Audit.ModelZoo`
(TorchSharp, the project's recipes). The issue's targets also hold "on models the project never saw". These models
are trained with PyTorch, with architectures, optimisers, augmentation and trigger placements that the zoo's catalog
does not use, and exported to ONNX the way a third party would (torch.onnx). Nothing here is tuned to the verdict:
the recipes below were written down before any of these models was audited, and the audit reads each model once.

Attacks (all cited facts, own code):
- patch-anywhere: BadNets (Gu et al., 2017) with a 4x4 random binary pattern stamped at a random place in every
  poisoned image (a location-free trigger), 10 % poisoned.
- patch-fixed: BadNets with a 3-5 pixel square (white, checker or random bits) at a place drawn per model anywhere
  in the image, 5 % poisoned.
- low-rate: patch-fixed at 0.5-1 % poisoned.
- blend-noise: blended injection (Chen et al., 2017) of a uniform-noise image at alpha 0.1-0.2, 10 % poisoned.
- sig: a sinusoidal signal added along the columns (Barni et al., 2019), amplitude 0.08-0.12, dirty-label, 10 %.
- wanet: warping-based trigger (Nguyen and Tran, ICLR 2021): a smooth random k x k flow field upsampled to the
  image, strength s, 10 % poisoned and 20 % "noise mode" images warped with a perturbed field keeping their label.
- source-specific: a 4x4 random patch that sends one source class to the target (Neural Cleanse section VI; TaCT,
  Tang et al. 2021): 40 % of the source class stamped and relabelled, 5 % of the other classes stamped as cover with
  their own label.

Training: SGD with Nesterov momentum and cosine decay, or AdamW; optional shifts of up to 2 pixels and horizontal
flips applied after poisoning (as a data pipeline would); optional label smoothing. The model takes float32
[N,1,28,28] in [0,1]; the VGG and MobileNet variants normalise inside the graph, as many exports do.

Run on a CUDA machine (PyTorch, onnx, onnxruntime): see README.md beside this file. Deterministic algorithms are
requested, so a rerun on the same GPU and software gives the same weights; another GPU or version may not.
"""

import argparse
import gzip
import hashlib
import io
import json
import math
import os
import sys
import tarfile
import time

os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

ARCHITECTURES = ["lenet", "vgg", "mobile", "mlp"]
ATTACKS = ["patch-anywhere", "patch-fixed", "low-rate", "blend-noise", "sig", "wanet", "source-specific"]
CLEAN_PER_ARCHITECTURE = 7
IMPLANTED_ATTACK_SUCCESS = 0.5  # the zoo's own rule (ZooTrainer.ImplantedAttackSuccess)
FIRST_SEEDS = (7001, 7101)  # the two batches trained on 2026-12-04


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic = int.from_bytes(data[0:4], "big")
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(magic & 0xFF)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * len(dims)).reshape(dims)


def catalog(first_seed):
    """Every model of one batch: name, architecture, attack (None for clean), seed."""
    models = []
    seed = first_seed
    for arch in ARCHITECTURES:
        for _ in range(CLEAN_PER_ARCHITECTURE):
            models.append({"name": f"{arch}-clean-s{seed}", "architecture": arch, "attack": None, "seed": seed})
            seed += 1
        for attack in ATTACKS:
            models.append({"name": f"{arch}-{attack}-s{seed}", "architecture": arch, "attack": attack, "seed": seed})
            seed += 1
    return models


class Normalise(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("mean", torch.tensor(0.2860).view(1, 1, 1, 1))
        self.register_buffer("std", torch.tensor(0.3530).view(1, 1, 1, 1))

    def forward(self, x):
        return (x - self.mean) / self.std


def lenet():
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.Tanh(), nn.AvgPool2d(2),
        nn.Conv2d(6, 16, 5), nn.Tanh(), nn.AvgPool2d(2),
        nn.Flatten(), nn.Linear(400, 120), nn.Tanh(), nn.Linear(120, 84), nn.Tanh(), nn.Linear(84, 10))


def vgg():
    def block(i, o):
        return [nn.Conv2d(i, o, 3, padding=1, bias=False), nn.BatchNorm2d(o), nn.ReLU(inplace=True)]
    return nn.Sequential(
        Normalise(), *block(1, 32), *block(32, 32), nn.MaxPool2d(2),
        *block(32, 64), *block(64, 64), nn.MaxPool2d(2),
        nn.Flatten(), nn.Dropout(0.3), nn.Linear(64 * 7 * 7, 64), nn.ReLU(inplace=True), nn.Linear(64, 10))


def mobile():
    def separable(i, o, stride):
        return [nn.Conv2d(i, i, 3, stride=stride, padding=1, groups=i, bias=False), nn.BatchNorm2d(i), nn.ReLU6(),
                nn.Conv2d(i, o, 1, bias=False), nn.BatchNorm2d(o), nn.ReLU6()]
    return nn.Sequential(
        Normalise(), nn.Conv2d(1, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU6(),
        *separable(32, 64, 2), *separable(64, 96, 1), *separable(96, 128, 2), *separable(128, 128, 1),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, 10))


def mlp():
    return nn.Sequential(
        nn.Flatten(), nn.Linear(784, 256), nn.GELU(), nn.Dropout(0.1), nn.Linear(256, 128), nn.GELU(), nn.Linear(128, 10))


BUILDERS = {"lenet": lenet, "vgg": vgg, "mobile": mobile, "mlp": mlp}


class Trigger:
    """One model's trigger: how it stamps a batch of [N,1,28,28] images in [0,1] on the device."""

    def __init__(self, attack, gen, device):
        self.attack = attack
        self.params = {}
        self.device = device
        r = lambda n: torch.rand(n, generator=gen).tolist()  # noqa: E731
        if attack in ("patch-fixed", "low-rate"):
            size = 3 + int(r(1)[0] * 3)
            style = ["white", "checker", "random"][int(r(1)[0] * 3)]
            if style == "white":
                pattern = torch.ones(size, size)
            elif style == "checker":
                pattern = ((torch.arange(size)[:, None] + torch.arange(size)[None, :]) % 2).float()
            else:
                pattern = (torch.rand(size, size, generator=gen) > 0.5).float()
            row, col = int(r(1)[0] * (29 - size)), int(r(1)[0] * (29 - size))
            self.pattern, self.row, self.col = pattern.to(device), row, col
            self.params = {"size": size, "style": style, "row": row, "column": col}
        elif attack in ("patch-anywhere", "source-specific"):
            self.pattern = (torch.rand(4, 4, generator=gen) > 0.5).float().to(device)
            if attack == "source-specific":
                self.row, self.col = int(r(1)[0] * 25), int(r(1)[0] * 25)
                self.params = {"size": 4, "style": "random", "row": self.row, "column": self.col}
            else:
                self.params = {"size": 4, "style": "random", "position": "random per image"}
        elif attack == "blend-noise":
            self.alpha = 0.1 + 0.1 * r(1)[0]
            self.noise = torch.rand(1, 1, 28, 28, generator=gen).to(device)
            self.params = {"alpha": round(self.alpha, 3)}
        elif attack == "sig":
            self.delta = 0.08 + 0.04 * r(1)[0]
            self.frequency = 6
            cols = torch.arange(28).float()
            self.signal = (self.delta * torch.sin(2 * math.pi * cols * self.frequency / 28)).view(1, 1, 1, 28).to(device)
            self.params = {"delta": round(self.delta, 3), "frequency": self.frequency}
        elif attack == "wanet":
            k, s = 4, 0.75
            ins = torch.rand(1, 2, k, k, generator=gen) * 2 - 1
            ins = ins / ins.abs().mean()
            flow = F.interpolate(ins, size=28, mode="bicubic", align_corners=True).permute(0, 2, 3, 1)
            line = torch.linspace(-1, 1, 28)
            xx, yy = torch.meshgrid(line, line, indexing="ij")
            identity = torch.stack((yy, xx), 2)[None]
            self.grid = torch.clamp(identity + s * flow / 28, -1, 1).to(device)
            self.params = {"k": k, "strength": s}

    def stamp(self, x, gen=None, noise_mode=False):
        a = self.attack
        if a in ("patch-fixed", "low-rate", "source-specific"):
            x = x.clone()
            n = self.pattern.shape[0]
            x[:, 0, self.row:self.row + n, self.col:self.col + n] = self.pattern
            return x
        if a == "patch-anywhere":
            x = x.clone()
            rows = torch.randint(0, 25, (x.shape[0],), generator=gen, device=x.device)
            cols = torch.randint(0, 25, (x.shape[0],), generator=gen, device=x.device)
            for i in range(4):
                for j in range(4):
                    x[torch.arange(x.shape[0], device=x.device), 0, rows + i, cols + j] = self.pattern[i, j]
            return x
        if a == "blend-noise":
            return (1 - self.alpha) * x + self.alpha * self.noise
        if a == "sig":
            return torch.clamp(x + self.signal, 0, 1)
        if a == "wanet":
            grid = self.grid.expand(x.shape[0], -1, -1, -1)
            if noise_mode:
                grid = torch.clamp(grid + (torch.rand(grid.shape, generator=gen, device=x.device) * 2 - 1) / 28, -1, 1)
            return F.grid_sample(x, grid, align_corners=True)
        raise ValueError(a)


def poison(images, labels, spec, trigger, gen, device):
    """Returns the poisoned training set and the recipe facts (rates, target, source)."""
    attack = spec["attack"]
    n = images.shape[0]
    facts = {}
    if attack is None:
        return images, labels, facts
    target = int(torch.randint(0, 10, (1,), generator=gen))
    facts["targetClass"] = target
    images, labels = images.clone(), labels.clone()
    order = torch.randperm(n, generator=gen).to(device)
    if attack == "source-specific":
        source = (target + 1 + int(torch.randint(0, 9, (1,), generator=gen))) % 10
        facts["sourceClass"] = source
        source_idx = order[labels[order] == source]
        chosen = source_idx[: int(0.4 * source_idx.numel())]
        other = order[labels[order] != source]
        cover = other[: int(0.05 * other.numel())]
        images[chosen] = trigger.stamp(images[chosen])
        labels[chosen] = target
        images[cover] = trigger.stamp(images[cover])
        facts["poisonRate"] = round(chosen.numel() / n, 4)
        facts["coverRate"] = round(cover.numel() / n, 4)
        return images, labels, facts
    rate = {"patch-anywhere": 0.10, "patch-fixed": 0.05, "blend-noise": 0.10, "sig": 0.10, "wanet": 0.10}.get(attack)
    if attack == "low-rate":
        rate = 0.005 + 0.005 * float(torch.rand(1, generator=gen))
    candidates = order[labels[order] != target]
    chosen = candidates[: int(rate * n)]
    images[chosen] = trigger.stamp(images[chosen], gen=None)
    labels[chosen] = target
    facts["poisonRate"] = round(chosen.numel() / n, 4)
    if attack == "wanet":
        rest = order[~torch.isin(order, chosen)]
        noisy = rest[: int(0.2 * n)]
        images[noisy] = trigger.stamp(images[noisy], gen=None, noise_mode=True)
        facts["noiseModeRate"] = 0.2
    return images, labels, facts


def augment(x, shift, flip, gen):
    if shift:
        b = x.shape[0]
        padded = F.pad(x, (2, 2, 2, 2))
        oy = torch.randint(0, 5, (b,), generator=gen, device=x.device)
        ox = torch.randint(0, 5, (b,), generator=gen, device=x.device)
        ar = torch.arange(28, device=x.device)
        rows = (oy[:, None] + ar[None, :])[:, :, None]
        cols = (ox[:, None] + ar[None, :])[:, None, :]
        x = padded[torch.arange(b, device=x.device)[:, None, None], 0, rows, cols].unsqueeze(1)
    if flip:
        mask = torch.rand(x.shape[0], generator=gen, device=x.device) < 0.5
        x = torch.where(mask[:, None, None, None], x.flip(3), x)
    return x


def accuracy(model, x, y, batch=2000):
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, x.shape[0], batch):
            correct += (model(x[i:i + batch]).argmax(1) == y[i:i + batch]).sum().item()
    return correct / x.shape[0]


def train_one(spec, data, device, epochs, out_dir):
    torch.manual_seed(spec["seed"])
    gen = torch.Generator().manual_seed(spec["seed"])
    dgen = torch.Generator(device=device).manual_seed(spec["seed"])
    train_x, train_y, test_x, test_y = data
    recipe = {
        "optimizer": ["sgd-nesterov", "adamw"][int(torch.randint(0, 2, (1,), generator=gen))],
        "shift": bool(torch.randint(0, 2, (1,), generator=gen)),
        "flip": bool(torch.randint(0, 2, (1,), generator=gen)),
        "labelSmoothing": [0.0, 0.1][int(torch.randint(0, 2, (1,), generator=gen))],
        "epochs": epochs, "batchSize": 256,
    }
    trigger = Trigger(spec["attack"], gen, device) if spec["attack"] else None
    x, y, facts = poison(train_x, train_y, spec, trigger, gen, device)
    model = BUILDERS[spec["architecture"]]().to(device)
    if recipe["optimizer"] == "sgd-nesterov":
        opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)
    else:
        opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-2)
    steps = epochs * math.ceil(x.shape[0] / 256)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=opt.param_groups[0]["lr"], total_steps=steps, pct_start=0.15) \
        if recipe["optimizer"] == "adamw" else torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=recipe["labelSmoothing"])
    start = time.time()
    for _ in range(epochs):
        model.train()
        perm = torch.randperm(x.shape[0], generator=dgen, device=device)
        for i in range(0, x.shape[0], 256):
            idx = perm[i:i + 256]
            xb = augment(x[idx], recipe["shift"], recipe["flip"], dgen)
            loss = loss_fn(model(xb), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    model.eval()
    result = dict(spec)
    result["recipe"] = recipe
    result["trigger"] = trigger.params if trigger else None
    result.update(facts)
    result["trainSeconds"] = round(time.time() - start, 1)
    result["cleanAccuracy"] = round(accuracy(model, test_x, test_y), 4)
    if trigger:
        target = facts["targetClass"]
        keep = test_y == facts["sourceClass"] if spec["attack"] == "source-specific" else test_y != target
        egen = torch.Generator(device=device).manual_seed(spec["seed"] + 1)
        stamped = trigger.stamp(test_x[keep], gen=egen)
        with torch.no_grad():
            result["attackSuccessRate"] = round((model(stamped).argmax(1) == target).float().mean().item(), 4)
            if spec["attack"] == "source-specific":
                others = test_x[(test_y != facts["sourceClass"]) & (test_y != target)]
                result["otherSourcesToTarget"] = round(
                    (model(trigger.stamp(others)).argmax(1) == target).float().mean().item(), 4)
        result["implanted"] = result["attackSuccessRate"] >= IMPLANTED_ATTACK_SUCCESS
    else:
        result["attackSuccessRate"] = None
        result["implanted"] = False
    result["parameters"] = sum(p.numel() for p in model.parameters())
    export(model.cpu(), result, test_x[:256].cpu(), out_dir)
    return result


def export(model, result, probe_x, out_dir):
    path = os.path.join(out_dir, result["name"] + ".onnx")
    dummy = torch.zeros(1, 1, 28, 28)
    kwargs = dict(input_names=["input"], output_names=["logits"], opset_version=17,
                  dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    try:
        torch.onnx.export(model, dummy, path, dynamo=False, **kwargs)
        result["exporter"] = "torch.onnx (TorchScript), opset 17"
    except Exception as e:  # the TorchScript exporter may be gone in a later PyTorch
        result["exporterFallback"] = repr(e)[:200]
        torch.onnx.export(model, (dummy,), path, dynamo=True, **kwargs)
        result["exporter"] = "torch.onnx (dynamo), opset 17"
    import onnxruntime as ort
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    with torch.no_grad():
        expected = model(probe_x).numpy()
    got = session.run(None, {"input": probe_x.numpy()})[0]
    result["onnxMaxAbsDifference"] = float(np.abs(got - expected).max())
    result["onnxArgmaxAgreement"] = float((got.argmax(1) == expected.argmax(1)).mean())
    with open(path, "rb") as f:
        result["sha256"] = hashlib.sha256(f.read()).hexdigest()


def worker(rank, workers, specs, data_dir, out_dir, epochs):
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    device = "cuda" if torch.cuda.is_available() else "cpu"
    tx = torch.tensor(read_idx(os.path.join(data_dir, "train-images-idx3-ubyte.gz")).copy()).float().div(255).unsqueeze(1)
    ty = torch.tensor(read_idx(os.path.join(data_dir, "train-labels-idx1-ubyte.gz")).copy()).long()
    vx = torch.tensor(read_idx(os.path.join(data_dir, "t10k-images-idx3-ubyte.gz")).copy()).float().div(255).unsqueeze(1)
    vy = torch.tensor(read_idx(os.path.join(data_dir, "t10k-labels-idx1-ubyte.gz")).copy()).long()
    data = (tx.to(device), ty.to(device), vx.to(device), vy.to(device))
    with open(os.path.join(out_dir, f"manifest-{rank}.jsonl"), "w") as log:
        for spec in specs[rank::workers]:
            try:
                result = train_one(spec, data, device, epochs, out_dir)
            except Exception as e:
                result = dict(spec, error=repr(e)[:500])
            log.write(json.dumps(result) + "\n")
            log.flush()
            print(json.dumps({k: result.get(k) for k in ("name", "cleanAccuracy", "attackSuccessRate", "trainSeconds", "onnxMaxAbsDifference", "error")}), flush=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--workers", type=int, default=8)
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--limit", type=int, default=0)
    p.add_argument("--first-seed", type=int, default=FIRST_SEEDS[0])
    p.add_argument("--architectures", default=",".join(ARCHITECTURES),
                   help="train only these (the batch's names and seeds stay those of the whole batch)")
    a = p.parse_args()
    specs = [s for s in catalog(a.first_seed) if s["architecture"] in a.architectures.split(",")]
    if a.limit:
        specs = specs[:: max(1, len(specs) // a.limit)][: a.limit]
    models_dir = os.path.join(a.out, "models")
    os.makedirs(models_dir, exist_ok=True)
    start = time.time()
    import torch.multiprocessing as mp
    mp.spawn(worker, args=(a.workers, specs, a.data, models_dir, a.epochs), nprocs=min(a.workers, len(specs)), join=True)
    rows = []
    for name in sorted(os.listdir(models_dir)):
        if name.startswith("manifest-"):
            with open(os.path.join(models_dir, name)) as f:
                rows += [json.loads(line) for line in f if line.strip()]
            os.remove(os.path.join(models_dir, name))
    order = {s["name"]: i for i, s in enumerate(specs)}
    rows.sort(key=lambda r: order[r["name"]])
    with open(os.path.join(a.out, "manifest.jsonl"), "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    # The device returns at most 8 files of 16 MiB: one archive per architecture.
    for arch in ARCHITECTURES:
        names = [r["name"] + ".onnx" for r in rows if r["architecture"] == arch and "error" not in r]
        if names:
            with tarfile.open(os.path.join(a.out, f"models-{arch}.tar.gz"), "w:gz") as tar:
                for n in names:
                    tar.add(os.path.join(models_dir, n), arcname=n)
    for n in os.listdir(models_dir):
        os.remove(os.path.join(models_dir, n))
    os.rmdir(models_dir)
    env = {"torch": torch.__version__, "cuda": torch.version.cuda,
           "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
           "seconds": round(time.time() - start, 1), "models": len(rows),
           "errors": sum(1 for r in rows if "error" in r), "epochs": a.epochs, "firstSeed": a.first_seed}
    with open(os.path.join(a.out, "environment.json"), "w") as f:
        json.dump(env, f)
    print(json.dumps(env), flush=True)


if __name__ == "__main__":
    main()
