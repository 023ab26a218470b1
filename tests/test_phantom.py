"""The synthetic chest radiographs: determinism, ground truth, sites, markers and errors."""

import time

import numpy as np
import pytest

from cxrlab import phantom
from cxrlab.phantom import DEFAULT_SITES, PHANTOM_CLASSES, Site, generate


@pytest.fixture(scope="module")
def small():
    return generate(48, size=64, seed=3)


def test_same_seed_gives_identical_arrays_and_table():
    a = generate(12, size=48, seed=7)
    b = generate(12, size=48, seed=7)
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.masks, b.masks)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert a.metadata.equals(b.metadata)
    c = generate(12, size=48, seed=8)
    assert not np.array_equal(a.images, c.images)


def test_shapes_types_and_ranges(small):
    assert small.images.shape == (48, 64, 64) and small.images.dtype == np.float32
    assert small.masks.shape == (48, 64, 64) and small.masks.dtype == bool
    assert small.labels.dtype == np.int64 and small.labels.shape == (48,)
    assert small.images.min() >= 0.0 and small.images.max() <= 1.0
    assert small.classes == PHANTOM_CLASSES == ["normal", "pneumonia", "nodule"]
    assert len(small) == 48 and small.size == 64


def test_prevalence_is_exact_and_findings_split_evenly():
    ps = generate(40, size=32, seed=0, prevalence=0.25)
    counts = np.bincount(ps.labels, minlength=3)
    assert counts[0] == 30 and counts[1] + counts[2] == 10 and abs(counts[1] - counts[2]) <= 1
    only_nodules = generate(20, size=32, seed=0, prevalence=1.0, findings=("nodule",))
    assert set(only_nodules.labels.tolist()) == {PHANTOM_CLASSES.index("nodule")}


def test_masks_only_where_findings_are_and_inside_the_lungs(small):
    has = small.masks.any(axis=(1, 2))
    np.testing.assert_array_equal(has, small.labels > 0)
    assert not (small.masks & ~small.lungs).any(), "a finding's mask leaves the lung field"
    # the lung fields cover a plausible share of a chest film
    share = small.lungs.mean(axis=(1, 2))
    assert (share > 0.15).all() and (share < 0.5).all()


def test_metadata_columns_and_geometry_match_the_masks():
    ps = generate(60, size=96, seed=5)
    m = ps.metadata
    for column in ("patient_id", "study_id", "age_group", "sex", "site", "label", "finding",
                   "has_marker", "finding_x", "finding_y", "finding_radius", "mask_pixels"):
        assert column in m.columns
    assert len(m) == 60 and m.study_id.is_unique
    assert set(m.sex) <= {"F", "M"} and set(m.age_group) <= set(phantom.AGE_GROUPS)
    assert set(m.site) <= {s.name for s in DEFAULT_SITES}
    np.testing.assert_array_equal(m.label.to_numpy(), ps.labels)
    assert (m.finding == np.array(["none"] + PHANTOM_CLASSES[1:], dtype=object)[ps.labels]).all()
    sick = np.flatnonzero(ps.labels > 0)
    for i in sick:
        rows, cols = np.nonzero(ps.masks[i])
        # the recorded centre is inside the mask and near its centroid
        assert ps.masks[i][int(round(m.finding_y[i])), int(round(m.finding_x[i]))]
        assert abs(cols.mean() - m.finding_x[i]) < 0.35 * m.finding_radius[i] + 1
        assert abs(rows.mean() - m.finding_y[i]) < 0.35 * m.finding_radius[i] + 1
    nodules = sick[ps.labels[sick] == PHANTOM_CLASSES.index("nodule")]
    area = m.mask_pixels[nodules] / (np.pi * m.finding_radius[nodules] ** 2)
    assert np.allclose(area, 1.0, atol=0.15), "a nodule's mask is its disc"
    assert m.loc[m.label == 0, "finding_x"].isna().all()


def test_findings_change_the_pixels_under_their_masks():
    # the same seed at prevalence 1 and 0 gives the same bodies: the difference is the finding
    sick = generate(16, size=64, seed=11, prevalence=1.0)
    well = generate(16, size=64, seed=11, prevalence=0.0)
    assert sick.masks.any(axis=(1, 2)).all() and not well.masks.any()
    assert (sick.metadata.site == well.metadata.site).all()
    diff = sick.images - well.images
    rows, cols = np.mgrid[0:64, 0:64]
    m = sick.metadata
    for i in range(16):
        far = np.hypot(rows - m.finding_y[i], cols - m.finding_x[i]) > 2 * m.finding_radius[i] + 3
        assert diff[i][sick.masks[i]].mean() > 0.04          # denser where the mask is
        assert np.abs(diff[i][far]).mean() < 0.005           # untouched far from it


def test_lesion_contrast_scales_the_finding_only():
    faint = generate(6, size=64, seed=9, prevalence=1.0, lesion_contrast=0.5)
    clear = generate(6, size=64, seed=9, prevalence=1.0, lesion_contrast=2.0)
    well = generate(6, size=64, seed=9, prevalence=0.0)
    np.testing.assert_array_equal(faint.masks, clear.masks)
    gain = lambda ps: (ps.images - well.images)[ps.masks].mean()  # noqa: E731
    assert gain(clear) > 2.5 * gain(faint) > 0


def test_site_exposure_changes_mean_intensity():
    bright = Site("low dose", exposure=0.5, noise_sigma=0.0)
    dark = Site("high dose", exposure=2.0, noise_sigma=0.0)
    a = generate(16, size=48, seed=1, sites=[bright])
    b = generate(16, size=48, seed=1, sites=[dark])
    assert a.images.mean() > b.images.mean() + 0.05
    noisy = generate(8, size=224, seed=1, sites=[Site("noisy", noise_sigma=0.08)])
    clean = generate(8, size=224, seed=1, sites=[Site("clean", noise_sigma=0.0)])
    # the same anatomy: noise shows as pixel-to-pixel roughness
    rough = lambda x: np.abs(np.diff(x, axis=2)).mean()  # noqa: E731
    assert rough(noisy.images) > 2 * rough(clean.images)


def test_default_sites_differ_in_mean_intensity():
    ps = generate(120, size=32, seed=2)
    means = ps.metadata.assign(mean=ps.images.mean(axis=(1, 2))).groupby("site")["mean"].mean()
    assert len(means) == len(DEFAULT_SITES)
    assert means.max() - means.min() > 0.05


@pytest.mark.parametrize("rho", [0.8, 0.3, -0.5])
def test_marker_correlation_is_honoured(rho):
    ps = generate(1500, size=32, seed=4, marker_correlation=rho)
    y = (ps.labels > 0).astype(float)
    m = ps.metadata.has_marker.to_numpy().astype(float)
    phi = np.corrcoef(y, m)[0, 1]
    assert abs(phi - rho) < 0.07, f"asked for {rho}, got {phi:.3f}"


def test_without_correlation_marker_follows_each_site_rate():
    sites = [Site("always", marker_text="L", marker_probability=1.0),
             Site("never", marker_text="R", marker_probability=0.0)]
    ps = generate(200, size=32, seed=0, sites=sites)
    rate = ps.metadata.groupby("site").has_marker.mean()
    assert rate["always"] == 1.0 and rate["never"] == 0.0
    y = (ps.labels > 0).astype(float)
    assert abs(np.corrcoef(y, ps.metadata.has_marker.astype(float))[0, 1]) < 0.2


def test_marker_is_burned_into_the_pixels():
    marked = generate(8, size=96, seed=0, sites=[Site("m", noise_sigma=0.0, marker_text="L", marker_probability=1.0)])
    plain = generate(8, size=96, seed=0, sites=[Site("m", noise_sigma=0.0, marker_text="L", marker_probability=0.0)])
    diff = marked.images - plain.images
    assert marked.metadata.has_marker.all() and not plain.metadata.has_marker.any()
    rows = np.nonzero(np.abs(diff).max(axis=(0, 2)) > 0.05)[0]
    assert len(rows) > 0 and rows.max() < 96 * 0.25, "the marker sits in the top quarter"


def test_several_studies_per_patient_share_patient_and_label():
    ps = generate(30, size=32, seed=1, studies_per_patient=3)
    m = ps.metadata
    assert m.patient_id.nunique() == 10
    assert (m.groupby("patient_id").label.nunique() == 1).all()
    assert (m.groupby("patient_id").sex.nunique() == 1).all()
    assert m.study_id.is_unique


def test_subset_keeps_everything_aligned(small):
    part = small.subset([3, 1])
    np.testing.assert_array_equal(part.images[0], small.images[3])
    assert part.metadata.study_id.tolist() == small.metadata.study_id[[3, 1]].tolist()
    assert part.lungs.shape == (2, 64, 64)


def test_speed_sanity_64_images_at_224():
    generate(2, size=224)  # warm-up (font, kernels)
    start = time.perf_counter()
    ps = generate(64, size=224, seed=0)
    seconds = time.perf_counter() - start
    assert ps.images.shape == (64, 224, 224)
    assert seconds < 10, f"64 images took {seconds:.1f} s"


@pytest.mark.parametrize("kwargs, words", [
    ({"n": 0}, "n must be a positive integer"),
    ({"n": 4, "size": 16}, "at least 32"),
    ({"n": 4, "marker_correlation": 1.5}, "[-1, 1]"),
    ({"n": 4, "marker_correlation": -1.01}, "[-1, 1]"),
    ({"n": 4, "prevalence": 1.2}, "prevalence"),
    ({"n": 4, "findings": ("pneumothorax",)}, "findings"),
    ({"n": 4, "studies_per_patient": 0}, "studies_per_patient"),
    ({"n": 4, "sites": []}, "sites"),
    ({"n": 4, "lesion_contrast": 10.0}, "lesion_contrast"),
])
def test_bad_input_raises_with_a_way_out(kwargs, words):
    with pytest.raises(ValueError, match=None) as info:
        generate(**kwargs)
    assert words in str(info.value)


def test_bad_site_raises():
    with pytest.raises(ValueError, match="exposure"):
        Site("x", exposure=0.0)
    with pytest.raises(ValueError, match="marker_text"):
        Site("x", marker_probability=0.5)
    with pytest.raises(ValueError, match="marker_text on every site"):
        generate(4, size=32, sites=[Site("no marker")], marker_correlation=0.5)
