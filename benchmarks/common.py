"""What every benchmark shares: timing, the machine description and the result table."""

from __future__ import annotations

import os
import platform
from dataclasses import asdict, dataclass
from datetime import datetime, timezone


@dataclass
class Row:
    """One comparison: ``baseline`` and ``cxrlab`` in ``unit``; ``ratio`` says how many times better.

    ``higher_is_better`` fixes the direction: for a time, ratio = baseline / cxrlab; for a
    throughput or an accuracy, ratio = cxrlab / baseline.
    """

    benchmark: str
    what: str
    baseline_name: str
    baseline: float
    cxrlab: float
    unit: str
    higher_is_better: bool
    note: str = ""

    @property
    def ratio(self) -> float:
        if self.higher_is_better:
            return self.cxrlab / self.baseline if self.baseline else float("inf")
        return self.baseline / self.cxrlab if self.cxrlab else float("inf")

    def as_dict(self) -> dict:
        return {**asdict(self), "ratio": self.ratio}


def machine() -> dict:
    """CPU model, cores, GPU (if any), torch version, date and load: the context of a result file."""
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    try:
        load = [round(value, 2) for value in os.getloadavg()]
    except OSError:  # not available on every platform
        load = None
    return {
        "cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
        "gpu": gpu, "torch": torch.__version__, "python": platform.python_version(),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "load_average": load,  # 1, 5 and 15 minutes, when the file was written: how shared the machine was
    }


def format_table(rows: list[Row]) -> str:
    """The printed table: what, baseline, cxrlab, ratio, unit."""
    header = f"{'benchmark':10s} {'what':60s} {'baseline':>12s} {'cxrlab':>12s} {'ratio':>8s}  unit"
    lines = [header, "-" * len(header)]
    for row in rows:
        lines.append(f"{row.benchmark:10s} {row.what[:60]:60s} {row.baseline:12.4g} {row.cxrlab:12.4g} "
                     f"{row.ratio:7.2f}x  {row.unit}")
        if row.note:
            lines.append(f"{'':10s}   baseline: {row.baseline_name}; {row.note}")
        else:
            lines.append(f"{'':10s}   baseline: {row.baseline_name}")
    return "\n".join(lines)
