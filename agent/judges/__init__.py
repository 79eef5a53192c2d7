"""Judges turn a claim and its evidence into a Verdict. Verification runs after any judge."""
from agent.judges.base import Judge, JudgeInput, Planner

__all__ = ["Judge", "JudgeInput", "Planner"]
