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


def test_training_curves_keep_a_long_or_crowded_legend_inside_the_figure_and_off_the_panels():
    # eight runs (16 entries) once squeezed the panels to nothing under constrained layout and the
    # legend fell over the curves; two long labels ran 268 px past each side of a 540 px figure
    crowded = {f"crowded run {i}": _history(0.05 * i) for i in range(8)}
    long = {"a very long label for the plain network with dropout": _history(),
            "another extremely long label, residual network with batch norm": _history(0.2)}
    one_run = plot.training_curves(_history(), title="t")
    one_run.canvas.draw()
    panel_height = one_run.axes[0].get_window_extent().height
    for runs in (crowded, long):
        fig = plot.training_curves(runs, title="t")
        fig.canvas.draw()
        box = fig.legends[0].get_window_extent()
        assert 0 <= box.x0 and box.x1 <= fig.bbox.width, (box, fig.bbox)
        assert all(box.y1 <= ax.get_tightbbox().y0 + 1 for ax in fig.axes)
        # the figure grew by the legend instead of shrinking its panels
        assert all(ax.get_window_extent().height >= 0.9 * panel_height for ax in fig.axes)
        assert len(fig.legends[0].get_texts()) == 2 * len(runs)
    matplotlib.pyplot.close("all")


def test_training_curves_take_a_2d_array_of_axes_and_refuse_an_empty_panel():
    _, grid = matplotlib.pyplot.subplots(2, 2)
    four = [("train_loss",), ("val_loss",), ("train_accuracy",), ("val_accuracy",)]
    fig = plot.training_curves(_history(), axes=grid, panels=four)
    assert [len(ax.lines) for ax in fig.axes] == [1, 1, 1, 1]
    _, row = matplotlib.pyplot.subplots(1, 2, squeeze=False)
    assert [len(ax.lines) for ax in plot.training_curves(_history(), axes=row).axes] == [2, 2]
    no_validation = History(train_loss=[1.0, 0.5], train_accuracy=[0.5, 0.8])
    with pytest.raises(ValueError, match="would be empty.*val="):
        plot.training_curves({"a": no_validation}, panels=[("train_loss",), ("val_accuracy",)])
    matplotlib.pyplot.close("all")


def test_training_curves_mark_whole_epochs_only():
    one_epoch = History(train_loss=[2.3], train_accuracy=[0.3], val_loss=[2.1], val_accuracy=[0.6])
    fig = plot.training_curves(one_epoch)
    assert [list(ax.get_xticks()) for ax in fig.axes] == [[1.0], [1.0]]  # not 0.95, 1.00, 1.05
    fig = plot.training_curves({"short": one_epoch, "long": _history()})
    assert list(fig.axes[0].get_xticks()) == [1.0, 2.0]
    for n in (12, 30):  # 12 ticks on a half-width panel ran "10 11 12" together
        many = History(train_loss=list(np.linspace(2, 1, n)), train_accuracy=[0.5] * n)
        fig = plot.training_curves(many)
        fig.canvas.draw()
        ticks = [t for t in fig.axes[0].get_xticks() if 1 <= t <= n]
        assert 2 <= len(ticks) <= 7 and all(float(t).is_integer() for t in ticks), (n, ticks)
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
