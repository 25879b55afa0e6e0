"""A process's resident memory, as the kernel counts it, read from /proc.

Resident memory is what a host must have for a worker: Python's own accounting (tracemalloc,
sys.getsizeof) misses the allocator's slack, the interpreter and the C extensions.
"""

from __future__ import annotations

from pathlib import Path


def resident_bytes(pid: int) -> int:
    """Memory the process holds in RAM now (``VmRSS``)."""
    return _status_kib(pid, "VmRSS") * 1024


def peak_resident_bytes(pid: int) -> int:
    """The most it ever held (``VmHWM``): a catch-up's transient buffers show here, not in the
    resident memory after it."""
    return _status_kib(pid, "VmHWM") * 1024


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name == field:
            return int(value.split()[0])  # "123456 kB"
    raise RuntimeError(f"/proc/{pid}/status has no {field}")
