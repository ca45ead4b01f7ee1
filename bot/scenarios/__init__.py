"""Stress scenarios (SPEC §6): scripted market paths played through the real executor, governor, strategies and
paper venues, each with the outcomes the governor must produce. ``carrybot scenario NAME``."""
