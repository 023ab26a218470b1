"""LeNet-5 on MNIST: seed 001's pipeline against chapter 2's training path, back to back.

Baseline (seed 001): ``torchvision.datasets.MNIST`` with per-image PIL transforms
(Resize 32, ToTensor, Normalize), a DataLoader with batch 64, Adam at 1e-3, 5 epochs.
cxrlab (chapter 2): the same 1998 architecture on in-memory tensors padded once to 32x32,
channels-last, Adam with a one-cycle schedule peaking at 5e-3, batch 128.

Reported: the seed's training time against cxrlab's time to reach the seed's test accuracy
(the shortest one-cycle schedule, in whole epochs, that gets there), and the final test
accuracy of each (cxrlab: chapter 2's quick-mode schedule). Both use the same MNIST files.
"""

from __future__ import annotations

import gzip
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from .common import Row

CHAPTER_EPOCHS = 6  # chapter 2's quick-mode schedule on full MNIST
SEED_EPOCHS = 5


class SeedLeNet5(nn.Module):
    """The seed's model, as written there (tanh, average pooling, 16*5*5 -> 120 -> 84 -> 10)."""

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


def seed_pipeline(root: Path, epochs: int) -> tuple[float, float]:
    """Seed 001's script, verbatim in substance: returns (training seconds, test accuracy %)."""
    import torchvision
    import torchvision.transforms as transforms

    transform = transforms.Compose([transforms.Resize((32, 32)), transforms.ToTensor(),
                                    transforms.Normalize((0.5,), (0.5,))])
    train = torchvision.datasets.MNIST(root=str(root), train=True, transform=transform, download=False)
    test = torchvision.datasets.MNIST(root=str(root), train=False, transform=transform, download=False)
    train_loader = torch.utils.data.DataLoader(train, batch_size=64, shuffle=True)
    test_loader = torch.utils.data.DataLoader(test, batch_size=1000, shuffle=False)
    model = SeedLeNet5()
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.001)
    start = time.time()
    for _ in range(epochs):
        model.train()
        for images, labels in train_loader:
            optimizer.zero_grad()
            loss = criterion(model(images), labels)
            loss.backward()
            optimizer.step()
    seconds = time.time() - start
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for images, labels in test_loader:
            correct += (model(images).argmax(1) == labels).sum().item()
            total += len(labels)
    return seconds, 100.0 * correct / total


def cxrlab_pipeline(bundle, epochs: int) -> tuple[float, float]:
    """Chapter 2's training path: returns (training seconds, test accuracy %)."""
    from cxrlab.nets import LeNet5
    from cxrlab.train import evaluate, fit

    model = LeNet5()
    history = fit(model, bundle.train, bundle.val, epochs=epochs, lr=5e-3, batch_size=128,
                  schedule="onecycle", channels_last=True, progress=False, seed=0)
    return history.train_seconds, 100.0 * evaluate(model, bundle.test)["accuracy"]


def run(*, tiny: bool = False, repeats: int = 3) -> list[Row]:
    """Measure both pipelines ``repeats`` times, alternating, and return the comparison rows."""
    from cxrlab.data import dataset_dir, load_mnist
    from cxrlab.data.paths import mnist_present

    folder = dataset_dir("mnist")
    real = mnist_present(folder)
    if not real and not tiny:
        raise FileNotFoundError("the lenet benchmark needs full MNIST: python data_scripts/fetch.py mnist")
    seed_epochs = 1 if tiny else SEED_EPOCHS
    chapter_epochs = 1 if tiny else CHAPTER_EPOCHS
    if tiny:
        bundle = load_mnist(pad=2, val_size=100, n_train=500)
    else:
        bundle = load_mnist(pad=2, val_size=5000, source="real")
    seed_runs, reach_runs, final_runs = [], [], []
    reach_epochs = None
    with tempfile.TemporaryDirectory() as tmp:
        if tiny:  # a smoke test of the runner: torchvision reads a few random digits
            root = _tiny_root(Path(tmp))
        else:
            root = _torchvision_root(folder, Path(tmp))
        for repeat in range(repeats):
            torch.manual_seed(repeat)
            seed_runs.append(seed_pipeline(root, seed_epochs))
            target = seed_runs[-1][1]
            if reach_epochs is None:  # find the shortest schedule that reaches the seed's accuracy
                for epochs in range(1, chapter_epochs + 1):
                    torch.manual_seed(repeat)
                    seconds, accuracy = cxrlab_pipeline(bundle, epochs)
                    if accuracy >= target or epochs == chapter_epochs:
                        reach_epochs = epochs
                        reach_runs.append((seconds, accuracy))
                        break
            else:
                torch.manual_seed(repeat)
                reach_runs.append(cxrlab_pipeline(bundle, reach_epochs))
            torch.manual_seed(repeat)
            final_runs.append(cxrlab_pipeline(bundle, chapter_epochs))

    def median(runs, index):
        return statistics.median(r[index] for r in runs)

    data_note = "full MNIST" if not tiny else "tiny configuration (smoke test of the runner)"
    return [
        Row("lenet", "training time to the seed's test accuracy", f"seed 001, {seed_epochs} epochs",
            median(seed_runs, 0), median(reach_runs, 0), "s", higher_is_better=False,
            note=f"{data_note}; cxrlab needed a {reach_epochs}-epoch schedule "
                 f"({median(reach_runs, 1):.2f} % vs the seed's {median(seed_runs, 1):.2f} %); "
                 f"median of {repeats}"),
        Row("lenet", "final test accuracy", f"seed 001, {seed_epochs} epochs",
            median(seed_runs, 1), median(final_runs, 1), "%", higher_is_better=True,
            note=f"cxrlab: chapter 2's {chapter_epochs}-epoch schedule, "
                 f"{median(final_runs, 0):.1f} s of training; median of {repeats}"),
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
