"""Lava processes that neurodeploy adds (kept in their own package: Lava's compiler imports
every module beside a process to find its models, so nothing else may live here).

May import: Lava and numpy only, nothing of neurodeploy.
"""
