"""The LLM judge and planner: a model over any OpenAI-compatible endpoint, checked by code.

- The planner asks for several searches per claim; the keyword planner's queries are always kept as
  well, so a poor plan cannot lose recall. One call per claim.
- The judge shows the model keyed evidence (S1.. source sentences, E1.. other papers, each with its
  date and whether it is newer than the claim) inside <evidence> tags, and maps the keys it cites
  back to the real records. One call per claim (plus one retry if the answer is invalid).
- Code checks every answer: a key that names no passage becomes a citation that cannot resolve
  (→ citation_not_found); quotes stay as the model wrote them and are checked against the real
  abstract (→ quote_not_in_source); dates → evidence_predates_claim (agent/verification.py); where
  the trained verifier strongly disagrees with the model on a cited sentence → judge_disagreement.
- Invalid output twice → llm_output_invalid and the offline verdict; budget spent →
  llm_budget_exhausted and the offline verdict; server unreachable after retries → llm_unavailable
  and the offline verdict.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agent import prompts
from agent.judges.base import Judge, JudgeInput, Planner
from claims.models import (
    Citation,
    Claim,
    EvidenceChunk,
    Flag,
    Paper,
    SecondOpinion,
    Stance,
    Verdict,
    VerdictLabel,
)
from claims.text import split_sentences
from tools.base import PaperVerifier, SearchQuery
from tools.llm import BudgetExhausted, ChatModel, LLMError, LLMOutputInvalid

DISAGREE_T = 0.8
MAX_QUERIES = 5
MAX_FOLLOW_UPS = 2


@dataclass(frozen=True)
class _Key:
    """What one evidence key stands for: a sentence of a paper."""

    arxiv_id: str
    title: str
    published: date | None
    text: str


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _PlanQuery(_Lenient):
    text: str = Field(min_length=1)
    field: Literal["all", "ti", "abs"] = "all"
    newer_only: bool = False


class _PlanOut(_Lenient):
    queries: list[_PlanQuery] = Field(min_length=1)


class _CiteOut(_Lenient):
    key: str
    quote: str
    stance: Stance


class _JudgeOut(_Lenient):
    label: VerdictLabel
    confidence: float
    rationale: str = Field(min_length=1)
    citations: list[_CiteOut] = Field(default_factory=list)
    durable_question: str | None = None
    perishable_limitation: str | None = None
    follow_up_questions: list[str] = Field(default_factory=list)


def _first_error(e: ValidationError) -> str:
    err = e.errors()[0]
    loc = ".".join(str(x) for x in err.get("loc", ())) or "answer"
    return f"{loc}: {err.get('msg', 'invalid')}"


def ask(model: ChatModel, messages: list[dict[str, str]], schema: dict, name: str, out: type[BaseModel]):
    """One call, validated into `out`; on invalid output, exactly one retry that shows the model its
    error. Raises LLMOutputInvalid after the second invalid answer (BudgetExhausted/LLMError pass)."""
    raw, error = "", ""
    for attempt in range(2):
        msgs = messages if attempt == 0 else messages + prompts.repair_message(raw, error)
        try:
            return out.model_validate(model.complete_json(msgs, schema, name))
        except LLMOutputInvalid as e:
            raw, error = e.raw, str(e)
        except ValidationError as e:
            raw, error = "(a JSON object that did not match the schema)", _first_error(e)
    raise LLMOutputInvalid(f"invalid output twice; last: {error}", raw)


class _Notes:
    """What the planner could not do, per claim, for the judge to report as flags (the planner has
    no flag channel of its own)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_claim: dict[str, list[Flag]] = {}

    def add(self, claim_id: str, flag: Flag) -> None:
        with self._lock:
            self._by_claim.setdefault(claim_id, []).append(flag)

    def pop(self, claim_id: str) -> list[Flag]:
        with self._lock:
            return self._by_claim.pop(claim_id, [])


def _failure_flag(e: Exception, claim_id: str, step: str) -> Flag:
    if isinstance(e, BudgetExhausted):
        return Flag(code="llm_budget_exhausted", claim_id=claim_id,
                    detail=f"{e}; the {step} used the offline fallback.")
    if isinstance(e, LLMOutputInvalid):
        return Flag(code="llm_output_invalid", claim_id=claim_id,
                    detail=f"The model's {step} output was invalid after one retry ({e}); "
                           f"the offline fallback was used.")
    return Flag(code="llm_unavailable", claim_id=claim_id,
                detail=f"The model gave no {step} answer ({e}); the offline fallback was used.")


class LlmPlanner:
    def __init__(self, model: ChatModel, fallback: Planner, max_results: int = 25,
                 notes: _Notes | None = None):
        self.model = model
        self.fallback = fallback
        self.max_results = max_results
        self.notes = notes or _Notes()
        self.name = f"llm-planner {prompts.PROMPT_VERSION} ({model.name}) + {fallback.name}"

    def plan(self, claim: Claim, source: Paper | None, cutoff: date) -> list[SearchQuery]:
        base = self.fallback.plan(claim, source, cutoff)
        try:
            out = ask(self.model, prompts.plan_messages(claim, source, cutoff), prompts.PLAN_SCHEMA, "plan",
                      _PlanOut)
        except LLMError as e:
            self.notes.add(claim.id, _failure_flag(e, claim.id, "search plan"))
            return base
        queries: list[SearchQuery] = []
        seen: set[tuple] = set()
        for q in out.queries[:MAX_QUERIES]:
            text = " ".join(q.text.split())[:300]
            if not text:
                continue
            sq = SearchQuery(text=text, field=q.field, after=cutoff if q.newer_only else None,
                             max_results=self.max_results)
            seen.add((sq.text.lower(), sq.field, sq.after))
            queries.append(sq)
        for sq in base:  # the keyword queries stay: recall never depends on the model alone
            if (sq.text.lower(), sq.field, sq.after) not in seen:
                queries.append(sq)
        return queries


class LlmJudge:
    def __init__(self, model: ChatModel, fallback: Judge, verifier: PaperVerifier | None = None,
                 notes: _Notes | None = None):
        self.model = model
        self.fallback = fallback
        self.verifier = verifier
        self.notes = notes or _Notes()
        self.name = f"llm {prompts.PROMPT_VERSION} ({model.name})"

    # The run's stats read these; the planner shares the same model, so its calls count here too.
    @property
    def calls(self) -> int:
        return int(self.model.calls)

    @property
    def tokens(self) -> int:
        return int(self.model.tokens)

    def judge(self, inp: JudgeInput) -> Verdict:
        plan_flags = self.notes.pop(inp.claim.id)
        src_id = inp.source.arxiv_id if inp.source else None
        keyed_source = [(f"S{i}", ch) for i, ch in enumerate(inp.source_sentences, 1)]
        keys: dict[str, _Key] = {k: _Key(ch.arxiv_id, ch.title, ch.published, ch.text) for k, ch in keyed_source}
        # Papers the judge reads whole, keyed P1.. with their sentences P1.1..; passages of any other
        # retrieved paper stay keyed E1.. (a judge input without candidates still works).
        keyed_papers: list[tuple[str, Paper, list[str]]] = []
        whole: set[str] = set()
        for i, c in enumerate([c for c in inp.candidates if c.paper.arxiv_id != src_id], 1):
            sents = split_sentences(c.paper.abstract)
            keyed_papers.append((f"P{i}", c.paper, sents))
            whole.add(c.paper.arxiv_id)
            pub = c.paper.effective_published()
            keys[f"P{i}"] = _Key(c.paper.arxiv_id, c.paper.title, pub, sents[0] if sents else c.paper.title)
            for j, sent in enumerate(sents, 1):
                keys[f"P{i}.{j}"] = _Key(c.paper.arxiv_id, c.paper.title, pub, sent)
        others = [c for c in list(inp.newer) + list(inp.older) if c.arxiv_id != src_id and c.arxiv_id not in whole]
        seen: set[tuple[str, int]] = set()
        uniq: list[EvidenceChunk] = []
        for c in others:
            if (c.arxiv_id, c.sentence_index) not in seen:
                seen.add((c.arxiv_id, c.sentence_index))
                uniq.append(c)
        keyed_ev = [(f"E{i}", ch) for i, ch in enumerate(uniq, 1)]
        keys.update({k: _Key(ch.arxiv_id, ch.title, ch.published, ch.text) for k, ch in keyed_ev})
        msgs = prompts.judge_messages(inp.claim, inp.cutoff, inp.as_of, inp.recent_from, inp.source,
                                      keyed_source, keyed_ev, keyed_papers)
        try:
            out = ask(self.model, msgs, prompts.JUDGE_SCHEMA, "verdict", _JudgeOut)
        except LLMError as e:
            return self._fallback(inp, plan_flags + [_failure_flag(e, inp.claim.id, "verdict")])
        cites = [self._citation(c, keys) for c in out.citations]
        flags = plan_flags + self._disagreements(inp, out.citations, keys)
        follow = [q.strip() for q in out.follow_up_questions if q and q.strip()][:MAX_FOLLOW_UPS]
        return Verdict(
            second_opinion=self._offline_opinion(inp),
            label=out.label,
            confidence=round(min(1.0, max(0.0, float(out.confidence))), 3),
            rationale=out.rationale.strip(),
            citations=cites,
            judge=self.name,
            durable_question=(out.durable_question or "").strip() or None,
            perishable_limitation=(out.perishable_limitation or "").strip() or None,
            follow_up_questions=follow,
            flags=flags,
        )

    @staticmethod
    def _citation(c: _CiteOut, keys: dict[str, _Key]) -> Citation:
        k = c.key.strip().strip("[]").upper()
        ch = keys.get(k)
        if ch is None:
            # Not a key we gave: a citation that cannot resolve, so verification flags
            # citation_not_found; the quote stays as the model wrote it.
            return Citation(arxiv_id=f"unknown-key:{c.key.strip()[:60]}", title="(not an evidence key)",
                            quote=c.quote, stance=c.stance, key=c.key.strip()[:60])
        return Citation(arxiv_id=ch.arxiv_id, title=ch.title, published=ch.published, quote=c.quote,
                        stance=c.stance, key=k)

    def _disagreements(self, inp: JudgeInput, cites: list[_CiteOut], keys: dict[str, _Key]) -> list[Flag]:
        """Where the offline paper-level model reads a cited paper the other way, strongly."""
        if self.verifier is None:
            return []
        judged: list[tuple[str, Stance, _Key]] = []
        for c in cites:
            k = c.key.strip().strip("[]").upper()
            if k in keys and c.stance is not Stance.neither and all(k2 != k for k2, _, _ in judged):
                judged.append((k, c.stance, keys[k]))
        papers = {p.arxiv_id: p for p in [c.paper for c in inp.candidates] + ([inp.source] if inp.source else [])}
        todo = [(k, st, key) for k, st, key in judged if key.arxiv_id in papers]
        if not todo:
            return []
        try:
            probs = self.verifier.judge_papers(inp.claim.text, [papers[key.arxiv_id] for _, _, key in todo])
        except Exception:  # a verifier failure must not lose the verdict
            return []
        flags: list[Flag] = []
        for (k, stance, key), p in zip(todo, probs, strict=False):
            other = "contradicts" if stance is Stance.supports else "supports"
            p_other = p.contradicts if stance is Stance.supports else p.supports
            if p_other >= DISAGREE_T:
                flags.append(Flag(code="judge_disagreement", claim_id=inp.claim.id, detail=(
                    f"The model reads {k} (arXiv:{key.arxiv_id}) as {stance.value}; the offline stance model "
                    f"says the paper {other} the claim (P={p_other:.2f}): \"{key.text[:160]}\"")))
        return flags

    def _offline_opinion(self, inp: JudgeInput) -> SecondOpinion | None:
        """The offline judge's verdict on the same evidence, kept beside the model's (needs the stance model)."""
        if self.verifier is None:
            return None
        try:
            v = self.fallback.judge(inp)
        except Exception:  # the second opinion is a check, never a reason to lose the model's verdict
            return None
        return SecondOpinion(label=v.label, confidence=v.confidence, judge=v.judge, citations=v.citations)

    def _fallback(self, inp: JudgeInput, flags: list[Flag]) -> Verdict:
        v = self.fallback.judge(inp)
        return v.model_copy(update={
            "judge": f"{v.judge} (fallback from {self.name})",
            "flags": list(v.flags) + flags,
        })


def build_llm_judge(settings: Any, verifier: PaperVerifier | None = None,
                    fallback_planner: Planner | None = None) -> tuple[LlmJudge, LlmPlanner]:
    """The judge and planner for `--judge llm`, sharing one model (so one budget and one count)."""
    from tools.llm import OpenAIChatModel

    model = OpenAIChatModel(
        model=settings.model, api_key=settings.openai_api_key, base_url=settings.openai_base_url,
        timeout=settings.llm_timeout, max_calls=settings.llm_max_calls, max_tokens=settings.llm_max_tokens,
    )
    if verifier is not None:
        from agent.judges.paper import PaperJudge

        fallback: Judge = PaperJudge(verifier)
    else:
        from agent.judges.baseline import BaselineJudge

        fallback = BaselineJudge()
    if fallback_planner is None:
        from agent.planning import KeywordPlanner

        fallback_planner = KeywordPlanner(max_results=getattr(settings, "search_results", 25))
    notes = _Notes()
    judge = LlmJudge(model, fallback, verifier=verifier, notes=notes)
    max_results = getattr(fallback_planner, "max_results", None) or getattr(settings, "search_results", 25)
    planner = LlmPlanner(model, fallback_planner, max_results=max_results, notes=notes)
    return judge, planner
