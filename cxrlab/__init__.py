"""cxrlab: the companion package of CXR Lab, from LeNet-5 to a clinical chest X-ray pipeline.

Start every chapter with ``rt = cxrlab.setup()``; see ``cxrlab.runtime``.
"""

__version__ = "0.1.0"

from .runtime import ModeError, Runtime, setup  # noqa: E402

__all__ = ["__version__", "setup", "Runtime", "ModeError"]
