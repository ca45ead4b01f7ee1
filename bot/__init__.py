"""carrybot: delta-neutral crypto carry behind a rule-based risk governor."""

__version__ = "0.1.0"
