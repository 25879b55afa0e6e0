"""Trigger rules: each reacts to events and to its own timers, and returns decisions as data."""
