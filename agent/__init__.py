"""The reasoning layer: configuration, state, prompts, nodes, judges, verification and the graph.

Imports `claims` and `tools`; never the faces (retest.cli, chat, sweep, web).
"""
