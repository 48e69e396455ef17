"""What every benchmark shares: the machine it ran on (a figure is never quoted without it)
and the shape of its progress callback."""

from __future__ import annotations

import os
import platform
import resource
import sqlite3
from collections.abc import Callable
from typing import Any

# A progress callback: (stage, done, total).
Progress = Callable[[str, int, int], None]


def machine() -> dict[str, Any]:
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": _memory_gib(),
        "system": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
    }


def peak_memory_mib() -> int:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> int:
    try:
        with open("/proc/meminfo", encoding="utf-8") as meminfo:
            kib = int(meminfo.readline().split()[1])
        return round(kib / 2**20)
    except (OSError, ValueError, IndexError):
        return 0
