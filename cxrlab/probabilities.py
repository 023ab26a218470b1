"""From a model's logits to probabilities: the one place the package makes that choice.

- One output logit: a binary model; its probability is ``sigmoid(logit)`` (a softmax over a
  single column would be 1.0 for every input).
- Multi-label outputs (chest findings that co-occur): an independent sigmoid per output.
- Otherwise (mutually exclusive classes): a softmax over the outputs.
"""

from __future__ import annotations

import torch

from ._checks import require_finite


def probabilities(logits: torch.Tensor, *, multi_label: bool = False) -> torch.Tensor:
    """Probabilities for a batch of logits.

    Args:
        logits: float tensor (B, C) of raw model outputs (any real values).
        multi_label: True when the C outputs are independent findings (sigmoid each).

    Returns:
        float tensor (B, C) in [0, 1]: per-output sigmoids when ``multi_label`` or C == 1,
        else a softmax whose rows sum to 1.

    Raises:
        TypeError: ``logits`` is not a floating-point tensor.
        ValueError: it is not 2-D, has no columns, or holds NaN or infinity (the index of the
            first bad row is named).
    """
    if not isinstance(logits, torch.Tensor) or not logits.is_floating_point():
        raise TypeError(f"logits must be a floating-point torch.Tensor (B, C), got {type(logits).__name__}"
                        + (f" of dtype {logits.dtype}" if isinstance(logits, torch.Tensor) else ""))
    if logits.ndim != 2 or logits.shape[1] < 1:
        raise ValueError(f"logits must have shape (B, C) with C >= 1, got {tuple(logits.shape)}; "
                         "for one image add a batch axis with logits.unsqueeze(0)")
    require_finite(logits.detach(), "logits")
    if multi_label or logits.shape[1] == 1:
        return torch.sigmoid(logits)
    return torch.softmax(logits, dim=1)
