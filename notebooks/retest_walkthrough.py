# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # retest — a walkthrough
#
# Load the example claims, run the one graph over them offline (bundled arXiv snapshot, embedded
# Chroma, the trained verifier), show the verdict table, and plot each claim's evidence over time:
# publication date against stance.

# %%
import os
import tempfile
from datetime import date
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from agent.configuration import Settings  # noqa: E402
from agent.runner import open_services, run_claims  # noqa: E402
from claims.readers import read_claims  # noqa: E402

ROOT = Path.cwd() if (Path.cwd() / "claims").exists() else Path.cwd().parent
home = Path(os.environ.get("RETEST_HOME") or tempfile.mkdtemp(prefix="retest-nb-"))
settings = Settings(home=home, source="snapshot", as_of=date(2026, 11, 26))
claim_set = read_claims(ROOT / "claims" / "examples" / "multi-dimensional-alignment.md")
[(c.id, c.claim_date, c.text[:80]) for c in claim_set.claims]

# %%
with open_services(settings) as svc:
    report = run_claims(claim_set, settings, svc)
report.stats

# %% [markdown]
# ## Verdicts

# %%
rows = [(c.id, c.claim_date, c.verdict.value, round(c.confidence, 2), ", ".join(sorted({f.code for f in c.flags})))
        for c in report.claims]
header = ("claim", "date", "verdict", "confidence", "flags")
width = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
for r in [header] + rows:
    print("  ".join(str(v).ljust(w) for v, w in zip(r, width)))

# %% [markdown]
# ## Evidence over time
#
# Each point is a cited paper: its v1 date against its stance toward the claim. The dashed line is
# the claim's date.

# %%
stance_y = {"contradicts": -1, "neither": 0, "supports": 1}
fig, axes = plt.subplots(len(report.claims), 1, figsize=(8, 1.8 * len(report.claims)), sharex=True)
for ax, c in zip(axes, report.claims):
    pts = [(x.published, stance_y[x.stance.value]) for x in c.citations if x.published]
    if pts:
        ax.scatter([p[0] for p in pts], [p[1] for p in pts],
                   c=["tab:red" if y < 0 else "tab:green" if y > 0 else "tab:gray" for _, y in pts])
    start = date(int(c.claim_date[:4]), 1, 1)
    ax.axvline(start, ls="--", c="k", lw=0.8)
    ax.set_yticks([-1, 0, 1], ["contra", "neither", "supports"])
    ax.set_ylim(-1.5, 1.5)
    ax.set_title(f"{c.id} ({c.claim_date}) — {c.verdict.value}", fontsize=9, loc="left")
fig.tight_layout()
out = home / "evidence_over_time.png"
fig.savefig(out, dpi=90)
assert out.exists() and out.stat().st_size > 0
print(out)
