"""retest's faces: the CLI (``cli/``), chat (``chat/``), sweeps (``sweep/``) and the web app (``web/``). All
drive the one graph in `agent`."""
__version__ = "0.1.0"
