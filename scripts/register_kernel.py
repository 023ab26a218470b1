"""Register the course's Jupyter kernel, ``cxrlab`` ("CXR Lab (Python 3)"), that every chapter names.

    python scripts/register_kernel.py            # into this environment (sys.prefix), as ipykernel --sys-prefix
    python scripts/register_kernel.py --user     # into the user's Jupyter folder
    python scripts/register_kernel.py --prefix P # into P/share/jupyter/kernels (tests)

The kernel runs ``python -m ipykernel_launcher``: Jupyter starts it with the interpreter of
the server (or of nbclient / jupyter-book) that launches it, so it always sees the
environment's ``cxrlab`` and ``PYTHONPATH`` — never a path frozen at registration time.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

KERNEL_NAME = "cxrlab"
DISPLAY_NAME = "CXR Lab (Python 3)"


def kernel_spec() -> dict:
    """The kernel.json of the course kernel."""
    return {"argv": ["python", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": DISPLAY_NAME, "language": "python", "metadata": {"debugger": True}}


def register(*, user: bool = False, prefix: str | None = None) -> Path:
    """Install the kernel spec and return its folder."""
    from jupyter_client.kernelspec import KernelSpecManager

    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "kernel.json").write_text(json.dumps(kernel_spec(), indent=1) + "\n")
        if not user and prefix is None:
            prefix = sys.prefix
        return Path(KernelSpecManager().install_kernel_spec(folder, KERNEL_NAME, user=user, prefix=prefix))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--user", action="store_true", help="the user's Jupyter folder instead of this environment")
    where.add_argument("--prefix", help="install under PREFIX/share/jupyter/kernels")
    args = parser.parse_args(argv)
    print(f"[lab] kernel '{KERNEL_NAME}' ({DISPLAY_NAME}) registered in {register(user=args.user, prefix=args.prefix)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
