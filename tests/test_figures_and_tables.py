"""The book's figure style and table formatter: sizes for the page, readable text, words for NaN."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import torch

from cxrlab import figures
from cxrlab.figures import figure_size, heatmap_overlay, series_color, text_problems, use_book_style
from cxrlab.plot import confusion_matrix, image_grid, training_curves
from cxrlab.tables import format_value, table
from cxrlab.train import History


@pytest.fixture(autouse=True)
def book_style():
    use_book_style()
    yield
    plt.close("all")


def test_setup_applies_the_book_style():
    import cxrlab

    matplotlib.rcParams["font.size"] = 6
    cxrlab.setup(seed=0, mode="smoke", data=(), quiet=True)
    assert matplotlib.rcParams["font.size"] == figures.MIN_FONT_PT
    assert tuple(matplotlib.rcParams["figure.figsize"])[0] == figures.PAGE_WIDTH


def test_text_on_a_full_width_figure_is_at_least_9_px_on_a_phone():
    # figures are shown 367 px wide on a 390-px phone (book/_ext/static/cxrlab-page.css)
    scale = 367 / (figures.PAGE_WIDTH * 100)
    assert figures.MIN_FONT_PT / 72 * 100 * scale >= 9.0


def test_figure_size_fits_the_column_and_refuses_wider():
    width, height = figure_size(2, 1, panel_aspect=0.75)
    assert width == figures.PAGE_WIDTH
    assert height == pytest.approx(figures.PAGE_WIDTH / 2 * 0.75 + 0.3)
    with pytest.raises(ValueError, match="page column"):
        figure_size(1, width=8)
    with pytest.raises(ValueError):
        figure_size(0)


def test_series_keep_their_colour():
    first = series_color("plain-test-series")
    other = series_color("residual-test-series")
    assert first != other and series_color("plain-test-series") == first
    assert first in figures.PALETTE
    with pytest.raises(TypeError):
        series_color(3)


def test_plot_helpers_follow_the_page_rules():
    history = History(train_loss=[1.0, 0.5], val_loss=[1.1, 0.6], train_accuracy=[0.5, 0.8],
                      val_accuracy=[0.45, 0.75])
    drawn = [training_curves(history, title="curves"),
             training_curves({"plain": history, "residual": history}),
             image_grid(torch.rand(16, 1, 8, 8), [f"label {i}" for i in range(16)], ncols=8, suptitle="digits"),
             confusion_matrix([0, 1, 2, 1], [0, 2, 2, 1], ["a", "b", "c"], title="confusion")]
    for fig in drawn:
        assert text_problems(fig) == []
    small = plt.figure(figsize=(8, 2))
    small.text(0.1, 0.1, "tiny", fontsize=6)
    assert len(text_problems(small)) == 2


def test_training_curves_colour_a_run_the_same_in_every_figure():
    history = History(train_loss=[1.0, 0.5], val_loss=[1.1, 0.6], train_accuracy=[0.5, 0.8],
                      val_accuracy=[0.45, 0.75])
    one = training_curves({"colour-test-b": history, "colour-test-a": history})
    two = training_curves({"colour-test-a": history})
    colour = {line.get_label(): line.get_color() for line in one.axes[0].lines}
    colour_two = {line.get_label(): line.get_color() for line in two.axes[0].lines}
    assert colour["colour-test-a train"] == colour_two["colour-test-a train"] == series_color("colour-test-a")


def test_heatmap_opacity_follows_the_heat_and_has_a_colour_bar():
    fig, ax = plt.subplots()
    heat = np.zeros((4, 4))
    heat[0, 0] = 1.0
    heat[1, 1] = 0.5
    heatmap_overlay(ax, np.random.default_rng(0).random((4, 4)), heat, max_alpha=0.8)
    rgba = ax.images[-1].get_array()
    assert rgba[0, 0, 3] == pytest.approx(0.8) and rgba[1, 1, 3] == pytest.approx(0.4) and rgba[2, 2, 3] == 0
    assert len(fig.axes) == 2  # the image and its colour bar
    assert ax.images[0].get_cmap().name == "gray"
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        heatmap_overlay(ax, np.zeros((4, 4)), heat * 3)
    with pytest.raises(ValueError, match="same height and width"):
        heatmap_overlay(ax, np.zeros((5, 4)), heat)
    with pytest.raises(ValueError, match="NaN or infinity"):
        heatmap_overlay(ax, np.full((4, 4), np.nan), heat)


@pytest.mark.parametrize("value, options, text", [
    (12345, {}, "12,345"), (np.int64(7), {}, "7"), (83.499998, {}, "83.50"),
    (0.835, {"percent": True, "decimals": 2}, "83.5 %"), (5.553117e-16, {"p_value": True}, "< 0.001"),
    (0.0412, {"p_value": True}, "0.041"), (float("nan"), {"missing": "no positives"}, "no positives"),
    (None, {}, "not available"), (float("inf"), {}, "infinite"), (-np.inf, {}, "minus infinite"),
    (True, {}, "yes"), (np.bool_(False), {}, "no"), ("AUROC", {}, "AUROC"), (4000.0, {}, "4,000"),
])
def test_format_value(value, options, text):
    assert format_value(value, **options) == text


def test_table_hides_the_index_and_formats_each_column():
    frame = pd.DataFrame({"finding": ["Effusion", "Nodule"], "positives": [1234, 5],
                          "AUROC": [0.83499998, np.nan], "p": [5.5e-16, 0.2]})
    html = table(frame, decimals={"AUROC": 3}, p_values=["p"], missing={"AUROC": "no positives"}).to_html()
    assert "1,234" in html and "0.835" in html and "no positives" in html and "&lt; 0.001" in html
    assert "< 0.001" not in html
    assert "nan" not in html and "row_heading" not in html
    assert "row_heading" in table(frame, index=True).to_html()
    with pytest.raises(KeyError, match="AUC"):
        table(frame, percent=["AUC"])
    with pytest.raises(TypeError, match="DataFrame"):
        table([[1, 2]])
