"""Worker of tests/test_distributed.py: one small fit, run alone or under torchrun.

    python tests/distributed_fit.py OUT.json                        # one process
    torchrun --nproc_per_node=2 tests/distributed_fit.py OUT.json   # two processes (gloo on a CPU)

The script is the same in both cases: ``cxrlab.train.fit`` finds torchrun's environment itself.
Rank 0 writes the history (and the checkpoint) to OUT.json (and OUT.pt).
"""

import json
import sys

import torch
import torch.nn as nn

from cxrlab import distributed
from cxrlab.train import fit

torch.set_num_threads(1)
torch.manual_seed(0)
n, classes = 512, 4
x = torch.randn(n, 1, 12, 12)
w = torch.randn(144, classes)
y = (x.flatten(1) @ w + 0.5 * torch.randn(n, classes)).argmax(1)
val = (x[:96] + 0.3 * torch.randn(96, 1, 12, 12), y[:96])
model = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                      nn.Linear(8 * 36, 32), nn.ReLU(), nn.Linear(32, classes))
history = fit(model, (x, y), val, epochs=int(sys.argv[2]) if len(sys.argv) > 2 else 6, lr=3e-3, batch_size=64,
              optimizer="adam", schedule="onecycle", progress=False, seed=1, keep_best=False,
              checkpoint=sys.argv[1].replace(".json", ".pt"))
if distributed.is_main_process():
    world = torch.distributed.get_world_size() if torch.distributed.is_initialized() else 1
    with open(sys.argv[1], "w") as handle:
        json.dump({"world_size": world, "train_loss": history.train_loss, "train_accuracy": history.train_accuracy,
                   "val_loss": history.val_loss, "val_accuracy": history.val_accuracy,
                   "weight_sum": float(sum(p.detach().double().sum() for p in model.parameters()))}, handle)
