"""What this CPU can do, for the parts that pick a numeric precision. Imports nothing from ragship."""

from __future__ import annotations

from functools import cache


@cache
def cpu_has_native_bf16() -> bool:
    """AMX or AVX512-BF16: bfloat16 matrix products run natively (2.7x float32 here, ADR 0007)."""
    try:
        flags = next(line for line in open("/proc/cpuinfo") if line.startswith("flags")).split()
    except (OSError, StopIteration):
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags
