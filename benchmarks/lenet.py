"""LeNet-5 on MNIST: a typical tutorial pipeline against chapter 2's training path, back to back.

Baseline, a typical tutorial pipeline (the code is below, and chapter 2 shows it):
``torchvision.datasets.MNIST`` with per-image PIL transforms (Resize 32, ToTensor,
Normalize), a DataLoader with batch 64, Adam at 1e-3, 5 epochs.
cxrlab (chapter 2, quick mode): the same 1998 architecture on in-memory tensors padded once
to 32x32, channels-last, with ``CHAPTER`` below (schedule, optimiser, batch, augmentation).

Each repeat trains both, one after the other (the order alternates between repeats, so a
change in a shared machine's load hits both alike), with the repeat's index as the random
seed: three repeats are three seeds. Reported: the training-time ratio and each side's test
accuracy (median; the note gives every seed's value and the machine's load average).
"""

from __future__ import annotations

import gzip
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from .common import Row

TUTORIAL_EPOCHS = 5
#: Chapter 2's quick-mode training on full MNIST (keep equal to the chapter's training cell).
CHAPTER = {"epochs": 4, "batch_size": 256, "optimizer": "adam", "lr": 0.008, "weight_decay": 0.0,
           "schedule": "onecycle", "label_smoothing": 0.1, "threads": "auto", "shift": 1}
PAPER_ACCURACY = 99.05  # LeCun et al. 1998, LeNet-5 without distortions: 0.95 % test error


class TutorialLeNet5(nn.Module):
    """LeNet-5 as a typical tutorial writes it (tanh, average pooling, 16*5*5 -> 120 -> 84 -> 10)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, kernel_size=5)
        self.pool = nn.AvgPool2d(kernel_size=2, stride=2)
        self.conv2 = nn.Conv2d(6, 16, kernel_size=5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)
        self.tanh = nn.Tanh()

    def forward(self, x):
        x = self.pool(self.tanh(self.conv1(x)))
        x = self.pool(self.tanh(self.conv2(x)))
        x = x.view(-1, 16 * 5 * 5)
        return self.fc3(self.tanh(self.fc2(self.tanh(self.fc1(x)))))


def _torchvision_root(mnist_folder: Path, workdir: Path) -> Path:
    """A root folder laid out as torchvision.datasets.MNIST expects (raw, uncompressed)."""
    from cxrlab.data.paths import MNIST_FILES

    raw = workdir / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in MNIST_FILES.values():
        with gzip.open(mnist_folder / name) as src, open(raw / name[:-3], "wb") as dst:
            shutil.copyfileobj(src, dst)
    return workdir


def tutorial_pipeline(root: Path, epochs: int) -> tuple[float, float]:
    """A typical tutorial script, in substance: returns (training seconds, test accuracy %)."""
    import torchvision
    import torchvision.transforms as transforms

    transform = transforms.Compose([transforms.Resize((32, 32)), transforms.ToTensor(),
                                    transforms.Normalize((0.5,), (0.5,))])
    train = torchvision.datasets.MNIST(root=str(root), train=True, transform=transform, download=False)
    test = torchvision.datasets.MNIST(root=str(root), train=False, transform=transform, download=False)
    train_loader = torch.utils.data.DataLoader(train, batch_size=64, shuffle=True)
    test_loader = torch.utils.data.DataLoader(test, batch_size=1000, shuffle=False)
    model = TutorialLeNet5()
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.001)
    start = time.perf_counter()
    for _ in range(epochs):
        model.train()
        for images, labels in train_loader:
            optimizer.zero_grad()
            loss = criterion(model(images), labels)
            loss.backward()
            optimizer.step()
    seconds = time.perf_counter() - start
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for images, labels in test_loader:
            correct += (model(images).argmax(1) == labels).sum().item()
            total += len(labels)
    return seconds, 100.0 * correct / total


def chapter_pipeline(bundle, seed: int, **overrides) -> tuple[float, float, int | None]:
    """Chapter 2's training path (``CHAPTER``): (training seconds, test accuracy %, CPU threads used)."""
    from cxrlab.augment import RandomCropFlip
    from cxrlab.nets import LeNet5
    from cxrlab.train import evaluate, fit

    config = {**CHAPTER, **overrides}
    shift = config.pop("shift")
    torch.manual_seed(seed)
    model = LeNet5()
    augment = RandomCropFlip(padding=shift, flip_p=0.0, padding_mode="replicate", seed=seed) if shift else None
    history = fit(model, bundle.train, bundle.val, augment=augment, channels_last=True, progress=False,
                  seed=seed, **config)
    return history.train_seconds, 100.0 * evaluate(model, bundle.test)["accuracy"], history.threads


def run(*, tiny: bool = False, repeats: int = 3) -> list[Row]:
    """Train both pipelines ``repeats`` times (seeds 0, 1, ...), alternating, and return the rows."""
    from cxrlab.data import dataset_dir, load_mnist
    from cxrlab.data.paths import mnist_present

    folder = dataset_dir("mnist")
    if not mnist_present(folder) and not tiny:
        raise FileNotFoundError("the lenet benchmark needs full MNIST: python data_scripts/fetch.py mnist")
    tutorial_epochs = 1 if tiny else TUTORIAL_EPOCHS
    overrides = {"epochs": 1} if tiny else {}
    if tiny:
        bundle = load_mnist(pad=2, val_size=100, n_train=500)
    else:
        bundle = load_mnist(pad=2, val_size=5000, source="real")
    tutorial_runs, chapter_runs = [], []
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        root = _tiny_root(Path(tmp)) if tiny else _torchvision_root(folder, Path(tmp))
        for repeat in range(repeats):
            def tutorial():
                torch.manual_seed(repeat)
                tutorial_runs.append(tutorial_pipeline(root, tutorial_epochs))

            def chapter():
                chapter_runs.append(chapter_pipeline(bundle, repeat, **overrides))

            for step in ((tutorial, chapter) if repeat % 2 == 0 else (chapter, tutorial)):
                step()
    load = f"load average {load_before:.1f} -> {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"

    def median(runs, index):
        return statistics.median(r[index] for r in runs)

    def each(runs, index, fmt):
        return ", ".join(format(r[index], fmt) for r in runs)

    ratios = ", ".join(f"{c[0] / t[0]:.2f}" for t, c in zip(tutorial_runs, chapter_runs))
    threads = ", ".join(str(c[2]) for c in chapter_runs)
    data = "tiny configuration (smoke test of the runner)" if tiny else "full MNIST"
    tutorial_name = f"a typical tutorial pipeline, {tutorial_epochs} epochs"
    chapter_epochs = overrides.get("epochs", CHAPTER["epochs"])
    return [
        Row("lenet", "LeNet-5 training time, chapter 2 (quick mode) vs a typical tutorial pipeline",
            tutorial_name, median(tutorial_runs, 0), median(chapter_runs, 0), "s", higher_is_better=False,
            note=f"{data}; chapter 2: {chapter_epochs} epochs; seconds per random seed, tutorial "
                 f"{each(tutorial_runs, 0, '.1f')}, chapter {each(chapter_runs, 0, '.1f')}; ratios chapter / "
                 f"tutorial (one per random seed) {ratios}; chapter's CPU threads (fit threads='auto') {threads}; "
                 f"median of {repeats} random seeds, run back to back; {load}"),
        Row("lenet", "LeNet-5 test accuracy, chapter 2 (quick mode) vs a typical tutorial pipeline",
            tutorial_name, median(tutorial_runs, 1), median(chapter_runs, 1), "%", higher_is_better=True,
            note=f"{data}; test accuracy per random seed, tutorial {each(tutorial_runs, 1, '.2f')}, chapter "
                 f"{each(chapter_runs, 1, '.2f')} (LeCun et al. 1998: {PAPER_ACCURACY} %); median of {repeats}"),
    ]


def _tiny_root(workdir: Path) -> Path:
    from cxrlab.data import write_idx

    raw = workdir / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 600), ("t10k", 200)):
        write_idx(workdir / f"{prefix}-i.gz", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
        write_idx(workdir / f"{prefix}-l.gz", (np.arange(n) % 10).astype(np.uint8))
        for src, dst in ((f"{prefix}-i.gz", f"{prefix}-images-idx3-ubyte"), (f"{prefix}-l.gz", f"{prefix}-labels-idx1-ubyte")):
            with gzip.open(workdir / src) as s, open(raw / dst, "wb") as d:
                shutil.copyfileobj(s, d)
    return workdir
