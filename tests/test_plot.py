"""cxrlab.plot: every helper returns a Figure; training_curves draws the History's numbers."""

import matplotlib
import numpy as np
import pytest
import torch

from cxrlab import plot
from cxrlab.train import History

matplotlib.use("Agg")


def _history(shift=0.0):
    return History(train_loss=[1.0 + shift, 0.5 + shift], train_accuracy=[0.5, 0.8], val_loss=[1.2, 0.9],
                   val_accuracy=[0.4, 0.7], learning_rate=[1e-3, 1e-3], epoch_seconds=[1.0, 1.0])


def test_training_curves_default_and_chosen_panels():
    fig = plot.training_curves(_history(), title="t")
    assert isinstance(fig, matplotlib.figure.Figure) and len(fig.axes) == 2
    loss_lines = fig.axes[0].get_lines()
    np.testing.assert_allclose(loss_lines[0].get_ydata(), [1.0, 0.5])
    np.testing.assert_allclose(fig.axes[1].get_lines()[1].get_ydata(), [40.0, 70.0])  # percent
    runs = {"plain": _history(), "residual": _history(-0.2)}
    fig = plot.training_curves(runs, panels=[("train_loss",), ("val_accuracy",)], panel_titles=["a", "b"])
    assert [ax.get_title() for ax in fig.axes] == ["a", "b"]
    assert [line.get_label() for line in fig.axes[0].get_lines()] == ["plain", "residual"]
    np.testing.assert_allclose(fig.axes[0].get_lines()[1].get_ydata(), [0.8, 0.3])
    matplotlib.pyplot.close("all")


def test_training_curves_explains_bad_options():
    with pytest.raises(ValueError, match="unknown curve"):
        plot.training_curves(_history(), panels=[("test_loss",)])
    with pytest.raises(ValueError, match="mixes loss and accuracy"):
        plot.training_curves(_history(), panels=[("train_loss", "val_accuracy")])
    with pytest.raises(TypeError, match="History"):
        plot.training_curves({"a": [1, 2]})


def test_image_grid_and_confusion_matrix_return_figures():
    fig = plot.image_grid(torch.rand(3, 1, 8, 8), ["a", "b", "c"], ncols=2)
    assert isinstance(fig, matplotlib.figure.Figure)
    with pytest.raises(ValueError, match="one title per image"):
        plot.image_grid(torch.rand(3, 8, 8), ["a"])
    fig = plot.confusion_matrix([0, 1, 1], [0, 1, 0], ["no", "yes"])
    assert isinstance(fig, matplotlib.figure.Figure)
    with pytest.raises(ValueError, match="differ in length"):
        plot.confusion_matrix([0, 1], [0], ["no", "yes"])
    matplotlib.pyplot.close("all")
