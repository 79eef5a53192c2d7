"""The reasoning layer, and only that: configuration, state, prompts, planning, nodes, judges, evidence
selection, verification, services, the graph, the runner and the report.

Imports `claims` and `tools`; never the faces (`retest/`: the CLI, chat, sweeps, web), which hold what
they do around the graph (chat sessions, sweeps and their history, digests).
"""
