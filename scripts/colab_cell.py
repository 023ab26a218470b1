# Runs this chapter anywhere. Outside the course (Colab, another hosted Jupyter: cxrlab is not
# importable) it clones the course, installs cxrlab at the versions CI tested and fetches this
# chapter's data (a few minutes, once). In a copy of the course it does nothing.
_REPOSITORY = ""  # the course's repository (set by scripts/insert_colab_cell.py from _config.yml)
_BRANCH = "main"
_DATA = ("mnist", "cifar10")  # this chapter's data sets (data_scripts/fetch.py names)
_HOSTED_PACKAGES = ("torch", "torchvision", "torchaudio", "triton", "nvidia-*")  # keep the host's CUDA build


def _colab_setup_plan(cxrlab_importable, repository, branch, data, target, target_exists, python):
    """The commands that make this notebook runnable here, in order ([] when nothing is needed).

    Each step is (command, fallback command or None, must_succeed)."""
    if cxrlab_importable:
        return []
    if not repository:
        raise RuntimeError("cxrlab is not installed and this notebook names no course repository: clone the "
                           "course and run `bash scripts/lab.sh`, or set _REPOSITORY to its Git URL and rerun")
    steps = []
    if not target_exists:
        steps.append((["git", "clone", "--depth", "1", "--branch", branch, repository, target], None, True))
    pins = f"{target}/.colab-constraints.txt"
    steps.append(([python, f"{target}/scripts/check_lock.py", "--lock", f"{target}/requirements.lock",
                   "--constraints", pins, "--exclude", *_HOSTED_PACKAGES], None, False))
    install = [python, "-m", "pip", "install", "--quiet", "-r", f"{target}/requirements.txt", "-e", target]
    steps.append((install + ["-c", pins], install, True))
    if data:
        steps.append(([python, f"{target}/data_scripts/fetch.py", *data], None, False))
    return steps


def _colab_setup():
    import importlib
    import importlib.util
    import os
    import subprocess
    import sys

    hosted = "google.colab" in sys.modules
    target = "/content/cxr-lab" if hosted else os.path.expanduser("~/cxr-lab")
    steps = _colab_setup_plan(importlib.util.find_spec("cxrlab") is not None, _REPOSITORY, _BRANCH, _DATA,
                              target, os.path.isdir(target), sys.executable)
    for command, fallback, must_succeed in steps:
        print("$", " ".join(command), flush=True)
        if subprocess.run(command).returncode != 0:
            if fallback is not None:
                print("(the tested versions did not install here; installing from requirements.txt's ranges)")
                if subprocess.run(fallback).returncode == 0:
                    continue
            if must_succeed:
                raise RuntimeError(f"setting up the course failed at: {' '.join(command)}")
    if steps:
        import site
        import sysconfig

        # pip's editable install is a .pth file that a running kernel has not read: read it now
        for folder in {sysconfig.get_paths()["purelib"], site.getusersitepackages()}:
            if os.path.isdir(folder):
                site.addsitedir(folder)
        importlib.invalidate_caches()
        os.chdir(os.path.join(target, "book"))
        print("cxrlab is ready: the chapter runs from", os.getcwd())


_colab_setup()
