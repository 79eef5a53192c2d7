"""Validate data/train/synthetic/pairs.jsonl against the input papers (run with the project venv)."""
import json, re, sys, collections
from pathlib import Path

HERE = Path(__file__).resolve().parent
PAPERS = Path('/work/shared/data/arxiv/papers.jsonl')
SKIP = {'2505.22907', '2510.22954', '2410.11163', '2410.08020', '2401.08565',
        '2305.11206', '2312.01552', '2402.04833', '2410.03717', '2602.15829'}
KEYS = {'claim', 'claim_date', 'paper_id', 'kind', 'label', 'degree', 'rationale',
        'confidence', 'note', 'labeller'}
KINDS = {'supported', 'premise_refuted', 'overstated', 'opposite', 'topical', 'background'}

papers = {}
for line in PAPERS.open():
    p = json.loads(line)
    papers[p['id']] = p

errs = []
per_paper = collections.Counter()
seen = set()
for n, line in enumerate((HERE / 'pairs.jsonl').open(), 1):
    try:
        r = json.loads(line)
    except json.JSONDecodeError as e:
        errs.append(f'line {n}: does not parse: {e}'); continue
    if set(r) != KEYS:
        errs.append(f'line {n}: keys {sorted(set(r) ^ KEYS)}')
    pid = r.get('paper_id')
    if pid not in papers:
        errs.append(f'line {n}: unknown paper_id {pid}'); continue
    if pid in SKIP:
        errs.append(f'line {n}: skipped paper_id {pid}')
    per_paper[pid] += 1
    p = papers[pid]
    if r['label'] not in ('supports', 'contradicts', 'neither'):
        errs.append(f'line {n}: bad label {r["label"]}')
    if r['label'] == 'contradicts':
        if r['degree'] not in ('refutes', 'weakens'):
            errs.append(f'line {n}: contradicts needs degree refutes|weakens')
    elif r['degree'] is not None:
        errs.append(f'line {n}: degree set for {r["label"]}')
    if r['label'] == 'neither':
        if r['rationale'] is not None:
            errs.append(f'line {n}: neither with a rationale')
    else:
        if not r['rationale']:
            errs.append(f'line {n}: {r["label"]} without a rationale')
        elif r['rationale'] not in p['abstract']:
            errs.append(f'line {n}: rationale not a verbatim substring of {pid} abstract')
    if r['kind'] not in KINDS:
        errs.append(f'line {n}: bad kind {r["kind"]}')
    if r['confidence'] not in ('high', 'medium', 'low'):
        errs.append(f'line {n}: bad confidence')
    if r['labeller'] != 'S1':
        errs.append(f'line {n}: labeller {r["labeller"]}')
    if not re.fullmatch(r'\d{4}', str(r['claim_date'])):
        errs.append(f'line {n}: claim_date {r["claim_date"]}')
    else:
        pyear = int((p.get('published') or '20' + pid[:2])[:4])
        if int(r['claim_date']) > pyear:
            errs.append(f'line {n}: claim_date after paper year {pyear}')
    if not r['claim'].strip() or re.search(r'\(\d{4}\)\s*$', r['claim']):
        errs.append(f'line {n}: empty claim or claim carries a year')
    if not r['note'] or not r['note'].strip():
        errs.append(f'line {n}: empty note')
    key = (pid, r['claim'].strip().lower())
    if key in seen:
        errs.append(f'line {n}: duplicate claim for {pid}')
    seen.add(key)

expected = set(papers) - SKIP
missing = expected - set(per_paper)
if missing:
    errs.append(f'papers without claims: {sorted(missing)}')
for pid, c in per_paper.items():
    if not 4 <= c <= 5:
        errs.append(f'{pid}: {c} claims (want 4-5)')

if errs:
    print('\n'.join(errs)); print(f'{len(errs)} problem(s)'); sys.exit(1)
print(f'OK: {sum(per_paper.values())} pairs over {len(per_paper)} papers')
