"""Verification: spike-timing agreement between backends (metrics, gates, reports)."""
