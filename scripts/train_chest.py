"""Train the course's chest model on every GPU of one node, with PyTorch's own engine:

    torchrun --standalone --nproc_per_node=gpu scripts/train_chest.py            # all GPUs of this node
    CXRLAB_MODE=quick torchrun --standalone --nproc_per_node=2 scripts/train_chest.py   # 2 CPU processes (gloo)

``cxrlab.train.fit`` finds torchrun's environment itself (``cxrlab.distributed``): one
process per GPU, DistributedDataParallel, each global batch of the mode's ``batch_size``
split over the processes, metrics summed over them, progress bars on rank 0. The trained
model lands in the cache the chapters load it from, so chapters 7 to 10 then reuse it.
"""

from __future__ import annotations

import argparse

import cxrlab
from cxrlab import distributed
from cxrlab.chest_model import chest_model, chest_report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--retrain", action="store_true", help="train even if a cached model exists")
    args = parser.parse_args()
    main_process = distributed.is_main_process()
    rt = cxrlab.setup(seed=0, data=("chest",), quiet=not main_process)
    cm = chest_model(rt, retrain=args.retrain, progress=main_process)
    if distributed.is_main_process():
        print(cm.summary())
        print(chest_report(cm).round(3).to_string())


if __name__ == "__main__":
    main()
