"""What this CPU can do, for the parts that pick a numeric precision. Imports nothing from ragship."""

from __future__ import annotations

from functools import cache


@cache
def _cpuinfo() -> dict[str, str]:
    """The first processor's fields from /proc/cpuinfo (empty where there is none)."""
    info: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if not line.strip():
                    break
                name, _, value = line.partition(":")
                info[name.strip()] = value.strip()
    except OSError:
        pass
    return info


def cpu_flags() -> frozenset[str]:
    return frozenset(_cpuinfo().get("flags", "").split())


def matrix_flags() -> list[str]:
    """The flags that decide how fast matrix products run in each precision (AMX, AVX-512 BF16/VNNI, AVX2)."""
    prefixes = ("amx", "avx512_bf16", "avx512_vnni", "avx_vnni", "avx512f", "avx2")
    return sorted(f for f in cpu_flags() if f.startswith(prefixes))


def cpu_model_name() -> str:
    return _cpuinfo().get("model name", "")


def cpu_has_native_bf16() -> bool:
    """AMX or AVX512-BF16: bfloat16 matrix products run natively (2.7x float32 here, ADR 0007)."""
    return bool({"amx_bf16", "avx512_bf16"} & cpu_flags())
