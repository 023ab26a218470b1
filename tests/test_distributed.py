"""``cxrlab.train.fit`` and ``cxrlab.multilabel.fit_multilabel`` under ``torchrun``: two CPU
processes (gloo) follow the single-process loss curve at the same global batch, and only rank 0
writes. About 30 s for ``fit`` and 20 s for ``fit_multilabel`` on 2 busy cores."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parent.parent
WORKER = REPO / "tests" / "distributed_fit.py"
#: float32 sums in another order (gradients averaged over 2 ranks, metrics summed over them):
#: measured agreement about 1e-7 relative; the curve itself moves by ~1e-2 per epoch
RTOL = 1e-5


def _env() -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1", CXRLAB_PROGRESS="0")
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)
    return env


@pytest.mark.skipif(not torch.distributed.is_available(), reason="this torch build has no torch.distributed")
def test_two_processes_match_one_process_loss_curve(tmp_path):
    torchrun = Path(sys.executable).parent / "torchrun"
    one, two = tmp_path / "one.json", tmp_path / "two.json"
    runs = [subprocess.Popen([sys.executable, str(WORKER), str(one), "4"], env=_env(), cwd=tmp_path,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True),
            subprocess.Popen([str(torchrun), "--standalone", "--nproc_per_node=2", str(WORKER), str(two), "4"],
                             env=_env(), cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)]
    for run in runs:
        output, _ = run.communicate(timeout=120)
        assert run.returncode == 0, output[-3000:]
    single, double = json.loads(one.read_text()), json.loads(two.read_text())
    assert single["world_size"] == 1 and double["world_size"] == 2
    for key in ("train_loss", "train_accuracy", "val_loss", "val_accuracy"):
        assert double[key] == pytest.approx(single[key], rel=RTOL), key
    assert single["train_loss"][-1] < single["train_loss"][0] - 0.05  # the curve does move
    assert double["weight_sum"] == pytest.approx(single["weight_sum"], rel=1e-4)
    # rank 0 alone wrote the checkpoint, atomically, with the unwrapped (no "module.") names
    state = torch.load(tmp_path / "two.pt", weights_only=True)
    assert set(state) == set(torch.load(tmp_path / "one.pt", weights_only=True))
    assert not any(name.startswith("module.") for name in state)
    assert not list(tmp_path.glob("*.part"))


#: The multi-label worker, written next to its output: the same script runs alone and under torchrun.
MULTILABEL_WORKER = """
import json, sys
import torch, torch.nn as nn
from cxrlab import distributed
from cxrlab.multilabel import fit_multilabel

torch.set_num_threads(1)
torch.manual_seed(0)
n, findings = 384, 3
x = torch.randn(n, 1, 12, 12)
w = torch.randn(144, findings)
y = ((x.flatten(1) @ w) / 12 + 0.3 * torch.randn(n, findings) > 0.8).float()  # rare-ish, co-occurring
val = (x[:96] + 0.3 * torch.randn(96, 1, 12, 12), y[:96])
model = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                      nn.Linear(8 * 36, 32), nn.ReLU(), nn.Linear(32, findings))
history = fit_multilabel(model, (x, y), val, loss="weighted_bce", epochs=4, lr=3e-3, batch_size=32,
                         progress=False, seed=1, keep_best=False)
if distributed.is_main_process():
    world = torch.distributed.get_world_size() if torch.distributed.is_initialized() else 1
    with open(sys.argv[1], "w") as handle:
        json.dump({"world_size": world, "train_loss": history.train_loss, "val_loss": history.val_loss,
                   "val_macro_auroc": history.val_macro_auroc, "best_epoch": history.best_epoch,
                   "pos_weight": history.pos_weight,
                   "weight_sum": float(sum(p.detach().double().sum() for p in model.parameters()))}, handle)
"""


@pytest.mark.skipif(not torch.distributed.is_available(), reason="this torch build has no torch.distributed")
def test_two_processes_match_one_process_multilabel_loss_curve(tmp_path):
    """fit_multilabel at a global batch of 32: 1 process of 32 against 2 ranks of 16 each."""
    torchrun = Path(sys.executable).parent / "torchrun"
    worker = tmp_path / "multilabel_worker.py"
    worker.write_text(MULTILABEL_WORKER)
    one, two = tmp_path / "one.json", tmp_path / "two.json"
    runs = [subprocess.Popen([sys.executable, str(worker), str(one)], env=_env(), cwd=tmp_path,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True),
            subprocess.Popen([str(torchrun), "--standalone", "--nproc_per_node=2", str(worker), str(two)],
                             env=_env(), cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)]
    for run in runs:
        output, _ = run.communicate(timeout=120)
        assert run.returncode == 0, output[-3000:]
    single, double = json.loads(one.read_text()), json.loads(two.read_text())
    print("fit_multilabel 1 process:", single)
    print("fit_multilabel 2 processes:", double)
    assert single["world_size"] == 1 and double["world_size"] == 2
    assert len(single["train_loss"]) == 4 and single["pos_weight"] == double["pos_weight"]
    for key in ("train_loss", "val_loss", "val_macro_auroc"):
        assert double[key] == pytest.approx(single[key], rel=RTOL), key
    assert double["best_epoch"] == single["best_epoch"]
    assert single["train_loss"][-1] < single["train_loss"][0] - 0.05  # the curve does move
    assert double["weight_sum"] == pytest.approx(single["weight_sum"], rel=1e-4)


def test_single_process_context_is_the_plain_loop(monkeypatch):
    from cxrlab import distributed

    monkeypatch.delenv("WORLD_SIZE", raising=False)
    ctx = distributed.context("cpu")
    assert isinstance(ctx, distributed.SingleProcess) and ctx.is_main and ctx.world_size == 1
    model = torch.nn.Linear(2, 2)
    assert ctx.wrap(model) is model
    t = torch.ones(3)
    assert ctx.sum(t)[0] is t
    assert distributed.is_main_process()


def test_bad_world_size_names_the_fix(monkeypatch):
    from cxrlab import distributed

    monkeypatch.setenv("WORLD_SIZE", "two")
    monkeypatch.setenv("RANK", "0")
    with pytest.raises(ValueError, match="torchrun --nproc_per_node"):
        distributed.launched()
