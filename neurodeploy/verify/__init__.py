"""Verification: spike-timing agreement between backends (metrics, gates, trace files,
reports).

May import every stage below it (core, exchange, models, quantize, targets); only the
studies and the CLI import verify.
"""
