"""cxrlab.runtime: device, mode choice, seeding, sizes and the banner."""

import os
import subprocess
import sys

import numpy as np
import pytest
import torch

import cxrlab
from cxrlab.runtime import ModeError, Runtime, choose_mode, setup

CPU = torch.device("cpu")


def test_mode_defaults_to_quick_on_cpu_and_full_on_gpu(monkeypatch):
    monkeypatch.delenv("CXRLAB_MODE", raising=False)
    assert choose_mode(None, CPU) == "quick"
    assert choose_mode(None, torch.device("cuda")) == "full"
    assert choose_mode(None, torch.device("mps")) == "full"


def test_env_overrides_detection_and_argument_overrides_env(monkeypatch):
    monkeypatch.setenv("CXRLAB_MODE", "smoke")
    assert choose_mode(None, torch.device("cuda")) == "smoke"
    assert choose_mode("FULL", CPU) == "full"


def test_unknown_mode_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("CXRLAB_MODE", "bogus")
    with pytest.raises(ModeError, match=r"CXRLAB_MODE='bogus' is not a run mode; use one of full, quick, smoke"):
        setup(quiet=True)


def test_bogus_mode_from_the_shell_gives_one_line():
    env = dict(os.environ, CXRLAB_MODE="bogus")
    result = subprocess.run([sys.executable, "-c", "import cxrlab; cxrlab.setup()"],
                            env=env, capture_output=True, text=True)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1].startswith("cxrlab.runtime.ModeError: CXRLAB_MODE='bogus'")


def test_sizes_follow_the_mode():
    rt = Runtime(device=CPU, mode="quick", seed=0, threads=1)
    assert rt.epochs(full=30, quick=5, smoke=1) == 5
    assert rt.size(full=None, quick=2000, smoke=64) == 2000
    assert rt.image_size(full=224, quick=96, smoke=32) == 96
    full = Runtime(device=CPU, mode="full", seed=0, threads=1)
    assert full.size(full=None, quick=2000, smoke=64) is None
    with pytest.raises(ValueError, match="epochs must be an integer >= 1"):
        rt.epochs(full=3, quick=0, smoke=1)


def test_same_seed_same_numbers_twice():
    def run():
        setup(seed=123, mode="smoke", quiet=True, data=())
        model = torch.nn.Linear(4, 2)
        return np.random.rand(3), torch.rand(3), model.weight.detach().clone()

    a, b = run(), run()
    for x, y in zip(a, b):
        assert np.array_equal(np.asarray(x), np.asarray(y))


def test_banner_is_one_line_with_device_mode_and_data(capsys, empty_data_dir):
    rt = setup(seed=7, mode="smoke")
    line = capsys.readouterr().out.strip()
    assert "\n" not in line
    assert line == rt.banner()
    for part in ("device cpu", "mode smoke", "seed 7", "mnist=stand-in", f"threads {torch.get_num_threads()}"):
        assert part in line
    assert cxrlab.__version__ in line


def test_numpy_scalars_print_as_plain_numbers_after_setup():
    setup(quiet=True, data=())
    assert repr(np.float64(0.25)) == "0.25"  # glue() in the book formats this text


def test_fit_options_carry_the_run_into_fit(monkeypatch):
    from cxrlab import settings

    monkeypatch.setenv(settings.PROGRESS_ENV, "off")
    monkeypatch.setenv(settings.OFFLINE_ENV, "1")
    monkeypatch.setenv(settings.DATA_ENV, "/tmp/cxrlab-test-data")
    rt = cxrlab.setup(seed=3, mode="smoke", data=(), quiet=True)
    assert (rt.progress, rt.offline, str(rt.data_dir)) == (False, True, "/tmp/cxrlab-test-data")
    options = rt.fit_options()
    assert options == dict(device=rt.device, seed=3, amp=rt.device.type == "cuda",
                           channels_last=not rt.is_gpu, progress=False)
    assert rt.fit_options(channels_last=False)["channels_last"] is False
    with pytest.raises(TypeError, match="not lr"):
        rt.fit_options(lr=0.1)
