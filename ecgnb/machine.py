"""What makes float results differ from one machine to the next, told without importing torch."""

from __future__ import annotations

import json
import os
import platform
from importlib import metadata
from pathlib import Path

ROUNDING_ENV = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "MKL_CBWR")  # kernel choices that change the rounding
THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")


def settings() -> str:
    """The torch version, the CPU's model and instruction-set flags, the core count and the variables that
    choose kernels and threads: two processes with the same settings round the same way."""
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.is_file() else []
    cpu = [line for line in lines if line.startswith(("model name", "flags"))][:2] or [platform.processor()]
    return json.dumps({"torch": metadata.version("torch"), "cpu": cpu, "cores": os.cpu_count(),
                       **{k: os.environ.get(k) for k in (*ROUNDING_ENV, *THREAD_ENV)}}, sort_keys=True)
