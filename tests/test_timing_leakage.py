"""median_time and timed (cxrlab.timing); patient leakage counts (cxrlab.leakage)."""

import numpy as np
import pytest

from cxrlab.leakage import image_level_split, nih_patient_ids, split_leakage
from cxrlab.timing import median_time, timed


def test_median_time_warms_up_and_takes_the_median():
    calls = []

    def fn():
        calls.append(1)

    assert median_time(fn, repeats=3, warmup=2) >= 0 and len(calls) == 5
    result, seconds = timed(lambda: 42)
    assert result == 42 and seconds >= 0
    with pytest.raises(ValueError, match="repeats"):
        median_time(fn, repeats=0)
    with pytest.raises(TypeError, match="function"):
        median_time(3)


def test_leakage_counts_known_case():
    ids = np.array(["a", "a", "b", "c", "c", "c"])
    leak = split_leakage(ids, train=[0, 3], test=[1, 2, 4, 5])
    assert (leak.test_images, leak.leaked_images, leak.test_patients, leak.leaked_patients) == (4, 3, 3, 2)
    assert leak.fraction == pytest.approx(0.75)
    assert split_leakage(ids, train=[0, 1], test=[2]).leaked_images == 0
    with pytest.raises(ValueError, match="both"):
        split_leakage(ids, train=[0, 1], test=[1])
    with pytest.raises(ValueError, match="indices"):
        split_leakage(ids, train=[0], test=[9])


def test_image_level_split_sizes_and_determinism():
    train, test = image_level_split(100, test_fraction=0.2, seed=3)
    assert len(test) == 20 and len(train) == 80 and not np.intersect1d(train, test).size
    assert np.array_equal(test, image_level_split(100, test_fraction=0.2, seed=3)[1])


def test_nih_patient_ids_have_the_real_counts():
    ids = nih_patient_ids()
    assert len(ids) == 112_120 and len(np.unique(ids)) == 30_805 and np.bincount(ids).max() == 184
    from cxrlab.data.nih_table import load_nih_table, nih_table_present

    if nih_table_present():   # same images-per-patient counts as the table itself
        table_counts = np.sort(load_nih_table().groupby("patient_id").size().to_numpy())
        assert np.array_equal(np.sort(np.bincount(ids)), table_counts)


def test_layer_times_profiles_every_leaf_layer_and_leaves_the_model_as_it_was():
    import pandas as pd
    import pytest
    import torch
    import torch.nn as nn

    from cxrlab.nets import LeNet5
    from cxrlab.timing import layer_times

    model = LeNet5().eval()
    model.features[0].train()  # a submodule with its own flag
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.randn(4, 1, 32, 32)
    table = layer_times(model, x, repeats=2, warmup=0)
    assert isinstance(table, pd.DataFrame) and len(table) == 12     # 5 layers, 4 tanh, 2 pools, a flatten
    assert list(table.columns) == ["layer", "module", "input shape", "milliseconds", "share"]
    assert table["layer"].tolist()[:3] == ["features.0", "features.1", "features.2"]
    assert table["input shape"].iloc[0] == (1, 32, 32) and table["input shape"].iloc[6] == (16, 5, 5)
    assert table.loc[7, "module"] == "FullConnectionConv2d"
    assert (table["milliseconds"] > 0).all() and abs(table["share"].sum() - 1) < 1e-9
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(p.grad is None for p in model.parameters())
    assert not model.training and model.features[0].training
    with pytest.raises(ValueError, match="floating-point input batch"):
        layer_times(model, torch.zeros(4, dtype=torch.long))
    with pytest.raises(TypeError, match="nn.Module"):
        layer_times(lambda t: t, x)
    with pytest.raises(ValueError, match="no leaf module"):
        layer_times(nn.Identity(), x)


def test_training_step_time_trains_a_copy_and_checks_its_input():
    import pytest
    import torch

    from cxrlab.nets import LeNet5
    from cxrlab.timing import training_step_time

    model = LeNet5().eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x, y = torch.randn(8, 1, 32, 32), torch.randint(0, 10, (8,))
    seconds = training_step_time(model, x, y, repeats=2, warmup=1)
    assert 0 < seconds < 10
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())   # a copy was trained
    assert all(p.grad is None for p in model.parameters()) and not model.training
    with pytest.raises(ValueError, match="one int64 class index per row"):
        training_step_time(model, x, y[:4])
    with pytest.raises(ValueError, match="one int64 class index per row"):
        training_step_time(model, x, y.float())
    with pytest.raises(ValueError, match="floating-point input batch"):
        training_step_time(model, x.long(), y)
    with pytest.raises(TypeError, match="nn.Module"):
        training_step_time("LeNet5", x, y)


def test_training_step_times_alternates_networks_and_cpu_threads_restores():
    import pytest
    import torch

    from cxrlab.nets import LeNet5
    from cxrlab.timing import cpu_threads, training_step_times

    x, y = torch.randn(4, 1, 32, 32), torch.randint(0, 10, (4,))
    times = training_step_times({"a": LeNet5(), "b": LeNet5()}, x, y, rounds=2, repeats=1, warmup=0)
    assert set(times) == {"a", "b"} and all(t > 0 for t in times.values())
    with pytest.raises(ValueError, match="non-empty"):
        training_step_times({}, x, y)
    before = torch.get_num_threads()
    with cpu_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with cpu_threads(None):
        assert torch.get_num_threads() == before
    with pytest.raises(ValueError):
        with cpu_threads(0):
            pass


def test_layer_times_leaves_batchnorm_statistics_alone_and_names_bad_calls():
    import pytest
    import torch
    import torch.nn as nn

    from cxrlab.timing import compare_layer_times, layer_times, training_step_time

    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 3))
    net.eval()
    buffers = {k: v.clone() for k, v in net.state_dict().items()}
    x = torch.randn(5, 1, 8, 8) * 3 + 2
    table = layer_times(net, x, repeats=2, warmup=1)
    assert table["module"].tolist() == ["Conv2d", "BatchNorm2d", "ReLU", "Flatten", "Linear"]
    assert all(torch.equal(buffers[k], v) for k, v in net.state_dict().items())  # running stats untouched
    with pytest.raises(ValueError, match="outside torch.no_grad"):
        with torch.no_grad():
            layer_times(net, x)
    with pytest.raises(ValueError, match="empty batch"):
        layer_times(net, x[:0])
    with pytest.raises(ValueError, match="float64 but the model's parameters are torch.float32"):
        layer_times(net, x.double())

    class TwoInputs(nn.Module):
        def forward(self, a, b):
            return a + b

    class Uses(nn.Module):
        def __init__(self):
            super().__init__()
            self.two, self.lin = TwoInputs(), nn.Linear(3, 2)

        def forward(self, x):
            return self.lin(self.two(x, x))

    with pytest.raises(ValueError, match="takes 2 inputs"):
        layer_times(Uses(), torch.randn(2, 3))
    both = compare_layer_times({"a": net, "b": net}, x, rounds=2, repeats=1, warmup=0)
    assert set(both) == {"a", "b"} and abs(both["a"]["share"].sum() - 1) < 1e-9
    y = torch.tensor([0, 1, 2, 0, 1])
    with pytest.raises(ValueError, match=r"class indices in \[0, 3\)"):
        training_step_time(net, x, y + 1)
    frozen = nn.Sequential(nn.Flatten(), nn.Linear(64, 3)).requires_grad_(False)
    with pytest.raises(ValueError, match="no trainable parameters"):
        training_step_time(frozen, x, y)
