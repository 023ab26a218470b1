"""The synthetic chest radiographs: determinism, multi-label ground truth with one mask per
finding, NIH statistics, patient effects, sites, markers and errors."""

import json
import time

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr

from cxrlab import phantom
from cxrlab.phantom import DEFAULT_SITES, FINDINGS, Site, cell_weights, generate, nih_prevalence, nih_statistics

FOCAL = ("nodule/mass", "consolidation/pneumonia", "atelectasis")


@pytest.fixture(scope="module")
def small():
    return generate(48, size=64, seed=3, enrichment=3)


def test_same_seed_gives_identical_arrays_and_table():
    a = generate(12, size=48, seed=7, enrichment=2)
    b = generate(12, size=48, seed=7, enrichment=2)
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.masks, b.masks)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert a.metadata.equals(b.metadata)
    assert not np.array_equal(a.images, generate(12, size=48, seed=8).images)


def test_shapes_types_and_ranges(small):
    assert small.images.shape == (48, 64, 64) and small.images.dtype == np.float32
    assert small.masks.shape == (48, 6, 64, 64) and small.masks.dtype == bool
    assert small.labels.dtype == np.float32 and small.labels.shape == (48, 6)
    assert set(np.unique(small.labels)) <= {0.0, 1.0}
    assert small.images.min() >= 0.0 and small.images.max() <= 1.0
    assert small.classes == list(FINDINGS) and len(FINDINGS) == 6
    assert len(small) == 48 and small.size == 64
    assert (small.labels.sum(1) >= 2).any(), "findings co-occur"


def test_each_finding_has_its_own_mask_where_and_only_where_it_is_present(small):
    np.testing.assert_array_equal(small.masks.any(axis=(2, 3)), small.labels > 0)
    lung_findings = [k for k, f in enumerate(FINDINGS) if f != "cardiomegaly"]
    assert not (small.masks[:, lung_findings] & ~small.lungs[:, None]).any(), "a lung finding leaves the lungs"
    share = small.lungs.mean(axis=(1, 2))
    assert (share > 0.12).all() and (share < 0.5).all()


def test_metadata_columns():
    ps = generate(60, size=64, seed=5, enrichment=2)
    m = ps.metadata
    for column in ("patient_id", "study_id", "age", "age_group", "sex", "view", "site", "findings",
                   "n_findings", "has_marker", "mask_pixels"):
        assert column in m.columns
    assert len(m) == 60 and m.study_id.is_unique
    assert set(m.sex) <= {"F", "M"} and set(m.view) <= {"PA", "AP"} and set(m.age_group) <= set(phantom.AGE_GROUPS)
    assert set(m.site) <= {s.name for s in DEFAULT_SITES}
    np.testing.assert_array_equal(m.n_findings.to_numpy(), ps.labels.sum(1))
    assert (m.findings[m.n_findings == 0] == "No Finding").all()
    first = np.flatnonzero(ps.labels.sum(1) > 0)[0]
    assert m.findings[first].split("|") == [f for f, y in zip(FINDINGS, ps.labels[first]) if y]


@pytest.mark.parametrize("finding", FOCAL + ("effusion", "pneumothorax"))
def test_a_finding_changes_the_pixels_under_its_mask_only(finding):
    # the same seed with and without the finding gives the same bodies: the difference is the finding
    sick = generate(24, size=64, seed=11, findings=(finding,), prevalence=1.0)
    well = generate(24, size=64, seed=11, findings=(finding,), prevalence=0.0)
    assert sick.masks.any(axis=(2, 3)).all() and not well.masks.any()
    diff = sick.images - well.images
    # age, sex and view come with the NIH pattern (and shape the body): compare like with like
    columns = ["view", "age", "sex"]
    alike = np.flatnonzero((sick.metadata[columns].to_numpy() == well.metadata[columns].to_numpy()).all(1))
    assert len(alike) >= 3
    for i in alike:
        mask = sick.masks[i, 0]
        rows, cols = np.nonzero(mask)
        far = np.ones_like(mask)
        far[max(0, rows.min() - 6):rows.max() + 7, max(0, cols.min() - 6):cols.max() + 7] = False
        sign = -1 if finding == "pneumothorax" else 1      # air is darker, fluid and tissue denser
        assert sign * diff[i][mask].mean() > 0.02, (finding, i)
        assert np.abs(diff[i][far]).mean() < 0.01, (finding, i)


def test_cardiomegaly_enlarges_the_heart_and_its_mask_is_the_heart():
    big = generate(10, size=64, seed=2, findings=("cardiomegaly",), prevalence=1.0)
    normal = generate(10, size=64, seed=2, findings=("cardiomegaly",), prevalence=0.0)
    heart = big.masks[:, 0]
    assert heart.any(axis=(1, 2)).all() and not normal.masks.any()
    columns = ["view", "age", "sex"]
    same = (big.metadata[columns].to_numpy() == normal.metadata[columns].to_numpy()).all(1)
    assert (normal.lungs.sum((1, 2)) > big.lungs.sum((1, 2)))[same].all(), "a larger heart leaves less lung"
    width = heart.any(axis=1).sum(1) / 64                     # heart width over image width
    assert width.mean() > 0.45                                # a cardiothoracic ratio above 0.5


def test_lesion_contrast_scales_the_finding():
    def gain(contrast):
        ps = generate(6, size=64, seed=9, findings=("nodule/mass",), prevalence=1.0, lesion_contrast=contrast)
        well = generate(6, size=64, seed=9, findings=("nodule/mass",), prevalence=0.0)
        return (ps.images - well.images)[ps.masks[:, 0]].mean()
    assert gain(2.0) > 2.5 * gain(0.5) > 0


def test_prevalence_and_co_occurrence_follow_the_nih_table():
    ps = generate(3000, size=32, seed=0)
    nih = nih_prevalence()
    drawn = ps.labels.mean(0)
    np.testing.assert_allclose(drawn, nih.to_numpy(), atol=0.025)
    cells, probs = cell_weights()
    bits = (cells[:, 0:1] >> np.arange(6)) & 1
    expected_pairs = (probs[:, None, None] * bits[:, :, None] * bits[:, None, :]).sum(0)
    np.testing.assert_allclose(ps.labels.T @ ps.labels / len(ps), expected_pairs, atol=0.025)
    # AP views carry more findings in the NIH table, and so here
    m = ps.metadata.assign(any=ps.labels.max(1))
    assert m.groupby("view")["any"].mean()["AP"] > m.groupby("view")["any"].mean()["PA"]
    assert 0.3 < (m.view == "AP").mean() < 0.5 and 0.5 < (m.sex == "M").mean() < 0.62


def test_enrichment_raises_every_rate_and_keeps_their_order():
    base = nih_prevalence().to_numpy()
    cells, probs = cell_weights(enrichment=2.0)
    enriched = (probs[:, None] * ((cells[:, 0:1] >> np.arange(6)) & 1)).sum(0)
    assert (enriched > base).all()
    assert spearmanr(base, enriched).statistic > 0.9
    _, p = cell_weights(prevalence=0.5)
    assert p[cell_weights(prevalence=0.5)[0][:, 0] > 0].sum() == pytest.approx(0.5)


def test_the_shipped_summary_is_consistent_and_matches_the_table_when_present():
    stats = nih_statistics()
    joint = np.asarray(stats["joint"])
    assert joint[:, 4].sum() == stats["images"] == 112_120 and stats["patients"] == 30_805
    assert sum(int(k) * v for k, v in stats["images_per_patient"].items()) == stats["images"]
    assert stats["findings"] == list(FINDINGS)
    assert nih_prevalence()["effusion"] == pytest.approx(stats["nih_prevalence"]["Effusion"], abs=1e-6)
    from cxrlab.data.nih_table import load_nih_table, nih_table_present

    if not nih_table_present():
        pytest.skip("NIH table not fetched (python data_scripts/nih_table.py): only the shipped file checked")
    from data_scripts.nih_statistics import summarise

    assert json.loads(json.dumps(summarise(load_nih_table()), sort_keys=True)) == stats


def test_follow_up_studies_share_the_patient():
    ps = generate(60, size=32, seed=1, studies_per_patient=3, finding_persistence=1.0, enrichment=2)
    m = ps.metadata.assign(pattern=[row.tobytes() for row in ps.labels])
    assert m.patient_id.nunique() == 20 and m.study_id.is_unique
    for column in ("pattern", "sex", "age", "view", "site"):
        assert (m.groupby("patient_id")[column].nunique() == 1).all(), column
    changing = generate(300, size=32, seed=1, studies_per_patient=3, finding_persistence=0.0, enrichment=2)
    m = changing.metadata.assign(pattern=[row.tobytes() for row in changing.labels])
    assert (m.groupby("patient_id").pattern.nunique() > 1).any()


def test_subset_keeps_everything_aligned(small):
    part = small.subset([3, 1])
    np.testing.assert_array_equal(part.images[0], small.images[3])
    np.testing.assert_array_equal(part.masks[1], small.masks[1])
    assert part.metadata.study_id.tolist() == small.metadata.study_id[[3, 1]].tolist()
    assert part.lungs.shape == (2, 64, 64) and "patients" in repr(part)


def test_site_exposure_changes_mean_intensity():
    a = generate(16, size=48, seed=1, sites=[Site("low dose", exposure=0.5, noise_sigma=0.0)])
    b = generate(16, size=48, seed=1, sites=[Site("high dose", exposure=2.0, noise_sigma=0.0)])
    assert a.images.mean() > b.images.mean() + 0.05
    noisy = generate(8, size=224, seed=1, sites=[Site("noisy", noise_sigma=0.08)])
    clean = generate(8, size=224, seed=1, sites=[Site("clean", noise_sigma=0.0)])
    rough = lambda x: np.abs(np.diff(x, axis=2)).mean()  # noqa: E731
    assert rough(noisy.images) > 2 * rough(clean.images)


@pytest.mark.parametrize("rho", [0.8, -0.5])
def test_marker_correlation_with_any_finding_is_honoured(rho):
    ps = generate(1200, size=32, seed=4, marker_correlation=rho, prevalence=0.5)
    phi = np.corrcoef(ps.any_finding.astype(float), ps.metadata.has_marker.to_numpy().astype(float))[0, 1]
    assert abs(phi - rho) < 0.08, f"asked for {rho}, got {phi:.3f}"


def test_marker_is_burned_into_the_pixels():
    marked = generate(8, size=96, seed=0, sites=[Site("m", noise_sigma=0.0, marker_text="L", marker_probability=1.0)])
    plain = generate(8, size=96, seed=0, sites=[Site("m", noise_sigma=0.0, marker_text="L", marker_probability=0.0)])
    diff = marked.images - plain.images
    assert marked.metadata.has_marker.all() and not plain.metadata.has_marker.any()
    rows = np.nonzero(np.abs(diff).max(axis=(0, 2)) > 0.05)[0]
    assert len(rows) > 0 and rows.max() < 96 * 0.25, "the marker sits in the top quarter"


def test_speed_sanity_64_images_at_224():
    generate(2, size=224)  # warm-up (font, kernels)
    start = time.perf_counter()
    ps = generate(64, size=224, seed=0, enrichment=2)
    seconds = time.perf_counter() - start
    assert ps.images.shape == (64, 224, 224)
    assert seconds < 20, f"64 images took {seconds:.1f} s"


@pytest.mark.parametrize("kwargs, words", [
    ({"n": 0}, "n must be a positive integer"),
    ({"n": 4, "size": 16}, "at least 32"),
    ({"n": 4, "marker_correlation": 1.5}, "[-1, 1]"),
    ({"n": 4, "prevalence": 1.2}, "prevalence"),
    ({"n": 4, "findings": ("fracture",)}, "findings"),
    ({"n": 4, "studies_per_patient": 0}, "studies_per_patient"),
    ({"n": 4, "sites": []}, "sites"),
    ({"n": 4, "lesion_contrast": 10.0}, "lesion_contrast"),
    ({"n": 4, "enrichment": 0.5}, "enrichment"),
    ({"n": 4, "finding_persistence": 2.0}, "finding_persistence"),
])
def test_bad_input_raises_with_a_way_out(kwargs, words):
    with pytest.raises(ValueError) as info:
        generate(**kwargs)
    assert words in str(info.value)


def test_bad_site_raises():
    with pytest.raises(ValueError, match="exposure"):
        Site("x", exposure=0.0)
    with pytest.raises(ValueError, match="marker_text"):
        Site("x", marker_probability=0.5)
    with pytest.raises(ValueError, match="marker_text on every site"):
        generate(4, size=32, sites=[Site("no marker")], marker_correlation=0.5)


def test_to_tensors_is_the_one_conversion_to_model_input():
    from cxrlab import phantom

    ps = phantom.generate(6, size=32, seed=3, progress=False)
    x, y = ps.to_tensors()
    assert x.shape == (6, 1, 32, 32) and x.dtype == torch.float32 and y.shape == (6, len(ps.classes))
    assert torch.equal(x[:, 0], torch.from_numpy(ps.images)) and torch.equal(y, torch.from_numpy(ps.labels))
    x3, y3 = ps.to_tensors([4, 1], channels=3)
    assert x3.shape == (2, 3, 32, 32) and torch.equal(x3[:, 2], x[[4, 1], 0]) and torch.equal(y3, y[[4, 1]])
    masked, _ = ps.to_tensors(lung_mask=True)
    assert torch.equal(masked[:, 0], torch.from_numpy(ps.images * ps.lungs))
    with pytest.raises(ValueError, match="channels must be 1"):
        ps.to_tensors(channels=2)


def test_the_grid_figure_fits_the_page_with_readable_text():
    """Two panels per row, no wider than the page column, no text under 10 pt (under a second)."""
    import matplotlib

    matplotlib.use("agg")
    import matplotlib.pyplot as plt

    from cxrlab.figures import PAGE_WIDTH, text_problems

    fig = phantom.phantom_grid_figure(phantom.generate(3, size=64, seed=2), 3)
    assert fig.get_figwidth() <= PAGE_WIDTH + 1e-9 and not text_problems(fig)
    assert sum(1 for ax in fig.axes if ax.images) == 3 and fig.axes[0].images[0].get_cmap().name == "gray"
    plt.close(fig)
