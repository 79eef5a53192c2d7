"""retest's faces: the CLI, chat, sweeps and the web app. All drive the one graph in `agent`."""
__version__ = "0.1.0"
