"""`retest serve`: the browser face of the chat session (retest/chat/) (FastAPI, Jinja2 with autoescape, SSE progress)."""
from retest.web.app import create_app

__all__ = ["create_app"]
