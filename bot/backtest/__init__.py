"""Backtests people can trust: performance metrics, run records, charts, data import, parameter search and
stress scenarios. The run itself is the ordinary executor, governor and paper venue on a replay feed (SPEC §6)."""
