"""The machine a figure was measured on, named one way for benchmarks and model cards."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def cpu_name() -> str:
    """'<model name>, N cores, avx/avx2' from /proc/cpuinfo (the platform's processor name elsewhere)."""
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").is_file() else ""
    model = next(
        (line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")),
        platform.processor() or platform.machine(),
    )
    flags = set(next((line.split(":", 1)[1].split() for line in info.splitlines() if line.startswith("flags")), []))
    simd = [f for f in ("avx", "avx2", "avx512f") if f in flags]
    return f"{model}, {os.cpu_count()} cores, {'/'.join(simd) or 'no AVX'}"


def release_free_memory() -> bool:
    """Hand memory the C allocator holds free back to the system (glibc's malloc_trim); False where there is
    none. A render worker frees hundreds of MB of scene and render buffers per frame in ever-different sizes;
    without this its resident size creeps up by fragments (measured in benchmarks/render_memory.py)."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    try:
        trim = ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        return False
    if trim is None:
        return False
    trim(0)
    return True
