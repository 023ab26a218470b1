"""Explanations of image classifiers, and how to score them.

* ``grad_cam`` (batched, from scratch), ``integrated_gradients`` (Captum),
  ``shap_images`` (shap's GradientExplainer), ``saliency`` (Captum): every explainer is
  ``explainer(model, images, targets, **options) -> maps (B, H, W)``;
* ``to_heatmap`` turns signed maps into [0, 1] heatmaps; ``overlay`` and
  ``explanation_grid`` draw them;
* ``pointing_game``, ``topk_iou`` (against ground-truth masks), ``deletion_curve``,
  ``insertion_curve`` (faithfulness), ``cascading_randomization`` (sanity check).
"""

from .gradcam import grad_cam, grad_cam_per_image, layer_activations_and_gradients
from .heatmap import normalize_maps, to_heatmap
from .integrated_gradients import integrated_gradients
from .metrics import FaithfulnessCurve, blur, curve_auc, deletion_curve, insertion_curve, pointing_game, topk_iou
from .overlay import explanation_grid, overlay
from .saliency import saliency
from .sanity import cascading_randomization, randomized_copy, rank_correlation
from .shap_images import shap_images

__all__ = [
    "grad_cam", "grad_cam_per_image", "layer_activations_and_gradients", "integrated_gradients", "shap_images", "saliency",
    "normalize_maps", "to_heatmap", "overlay", "explanation_grid", "pointing_game", "topk_iou",
    "deletion_curve", "insertion_curve", "curve_auc", "blur", "FaithfulnessCurve",
    "cascading_randomization", "randomized_copy", "rank_correlation",
]
