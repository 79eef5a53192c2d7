"""`retest serve`: the browser face of agent.chat (FastAPI, Jinja2 with autoescape, SSE progress)."""
from retest.web.app import create_app

__all__ = ["create_app"]
