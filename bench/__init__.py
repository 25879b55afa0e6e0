"""Nudge's benchmarks: ``python -m bench`` (or ``make bench``).

They measure the two numbers that decide how many workers a shop needs: how fast the core
handles events on one core in-process, and how fast one real worker keeps up end to end through
the embedded broker (catch-up throughput, and processing latency under a steady live rate).
"""
