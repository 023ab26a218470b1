"""Train the course's chest model on every GPU of one node, with PyTorch's own engine:

    torchrun --standalone --nproc_per_node=gpu scripts/train_chest.py            # all GPUs of this node
    CXRLAB_MODE=smoke torchrun --standalone --nproc_per_node=2 scripts/train_chest.py --retrain  # 2 CPU processes (gloo)

The chest model trains with ``cxrlab.multilabel.fit_multilabel``, which finds torchrun's
environment itself (``cxrlab.distributed``): one process per GPU, DistributedDataParallel,
each global batch of the mode's ``batch_size`` split over the processes, losses summed over
them, progress bars on rank 0. Rank 0 alone writes the trained model into the cache the
chapters load it from, so chapters 7 to 10 then reuse it.
"""

from __future__ import annotations

import argparse

import torch

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
        world = torch.distributed.get_world_size() if torch.distributed.is_initialized() else 1
        how = "loaded from the cache, trained earlier" if cm.from_cache else \
            f"trained by {world} process{'es' if world > 1 else ''} (global batch {cm.config['batch_size']})"
        print(f"{how}; "
              f"training loss per epoch: {', '.join(f'{v:.4f}' for v in cm.history.train_loss)}; "
              f"validation macro-AUROC: {', '.join(f'{v:.3f}' for v in cm.history.val_macro_auroc)}")
        print(cm.summary())
        print(chest_report(cm).round(3).to_string())


if __name__ == "__main__":
    main()
