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


def test_training_curves_put_one_legend_under_the_panels():
    runs = {"plain": _history(), "residual": _history(-0.2)}
    fig = plot.training_curves(runs)
    assert all(ax.get_legend() is None for ax in fig.axes) and len(fig.legends) == 1
    names = [t.get_text() for t in fig.legends[0].get_texts()]
    assert names == ["plain train", "plain validation", "residual train", "residual validation"]
    fig.canvas.draw()  # the legend lies below every panel, off the curves
    legend_top = fig.legends[0].get_window_extent().y1
    assert all(legend_top <= ax.get_tightbbox().y0 + 1 for ax in fig.axes)
    # a run drawn solid in one panel and dashed in the other is named once, by its colour
    fig = plot.training_curves(runs, panels=[("train_loss",), ("val_accuracy",)])
    entries = fig.legends[0].legend_handles
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["plain", "residual"]
    assert [h.get_linestyle() for h in entries] == ["-", "-"] and entries[0].get_color() == fig.axes[0].lines[0].get_color()
    fig = plot.training_curves(runs, legend="inside")
    assert not fig.legends and all(ax.get_legend() is not None for ax in fig.axes)
    fig = plot.training_curves(runs, legend="none")
    assert not fig.legends and all(ax.get_legend() is None for ax in fig.axes)
    _, axes = matplotlib.pyplot.subplots(1, 2)  # the caller's axes: a legend in each by default
    fig = plot.training_curves(runs, axes=axes)
    assert not fig.legends and all(ax.get_legend() is not None for ax in fig.axes)
    with pytest.raises(ValueError, match="legend='inside'"):
        plot.training_curves(runs, axes=axes, legend="below")
    with pytest.raises(ValueError, match="'below', 'inside' or 'none'"):
        plot.training_curves(runs, legend="above")
    matplotlib.pyplot.close("all")


def test_training_curves_mark_whole_epochs_only():
    one_epoch = History(train_loss=[2.3], train_accuracy=[0.3], val_loss=[2.1], val_accuracy=[0.6])
    fig = plot.training_curves(one_epoch)
    assert [list(ax.get_xticks()) for ax in fig.axes] == [[1.0], [1.0]]  # not 0.95, 1.00, 1.05
    fig = plot.training_curves({"short": one_epoch, "long": _history()})
    assert list(fig.axes[0].get_xticks()) == [1.0, 2.0]
    many = History(train_loss=list(np.linspace(2, 1, 30)), train_accuracy=[0.5] * 30)
    fig = plot.training_curves(many, panels=[("train_loss",)])
    fig.canvas.draw()
    ticks = [t for t in fig.axes[0].get_xticks() if 1 <= t <= 30]
    assert ticks and all(float(t).is_integer() for t in ticks)
    matplotlib.pyplot.close("all")


def test_training_curves_explains_bad_options():
    with pytest.raises(ValueError, match="unknown curve"):
        plot.training_curves(_history(), panels=[("test_loss",)])
    with pytest.raises(ValueError, match="mixes loss and accuracy"):
        plot.training_curves(_history(), panels=[("train_loss", "val_accuracy")])
    with pytest.raises(TypeError, match="History"):
        plot.training_curves({"a": [1, 2]})
    with pytest.raises(ValueError, match="no epochs"):
        plot.training_curves({"a": History(), "b": History()})


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
