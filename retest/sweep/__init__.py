"""The sweep face: nightly sweeps that re-test a folder of claims against what is new since the last
sweep (``run``), the history database of every sweep and verdict (``history``), and each sweep's digest
of what changed (``digest``, ``templates/digest.md.j2``). A sweep drives the one graph in ``agent``."""
