"""Generate a GENERATED corpus in the shape of the public arXiv metadata dump (one JSON object a line).

The records are synthetic, not arXiv papers: they give the import and the index realistic shape,
size and term statistics, nothing more.

* ids: new-style ``YYMM.NNNN`` (4 digits before 2015) / ``YYMM.NNNNN``, a few old-style
  ``archive/YYMMNNN`` in early 2007, in id order as the dump is; the monthly volume grows from about
  4,000 (2007) to about 24,000 (2026), as arXiv's did;
* versions: ``v1`` created in the id's month, later ids later in the month (ids are assigned in
  submission order), written in RFC 2822 as the dump writes it; 0-4 later
  versions, dates over 2007-2026; ``update_date`` the last version's day;
* titles (6-16 words) and abstracts (60-260 words) sampled Zipf-weighted (exponent 1.0) from the
  vocabulary of the bundled real abstracts (tools/arxiv/data/papers.jsonl, about 4,100 words, most
  frequent first) followed by a long tail of pronounceable pseudo-words (default 150,000 in all), so
  that document frequencies range from "in most records" to "in a handful"; wrapped with newlines and
  two-space indents as the dump wraps them, with some inline LaTeX;
* categories: a primary from ~40 real arXiv categories weighted roughly like arXiv's mix, 0-3
  cross-lists, space-separated; authors as one string and as ``authors_parsed``; the other dump
  fields (submitter, comments, journal-ref, doi, report-no, license) present, mostly null.

    python benchmarks/gen_dump.py OUT.jsonl [--records 1000000] [--seed 0] [--gzip]

Deterministic for a given --records and --seed. About 1.7 KB a record (the real dump: ~1.7 KB).
"""
from __future__ import annotations

import argparse
import gzip
import itertools
import json
import random
import re
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUNDLED = ROOT / "tools" / "arxiv" / "data" / "papers.jsonl"

# (category, weight): a rough mix of arXiv's primaries
CATEGORIES: list[tuple[str, float]] = [
    ("cs.LG", 9), ("cs.CV", 8), ("cs.CL", 6), ("cs.AI", 3), ("cs.RO", 2), ("cs.CR", 1.5), ("cs.IR", 1),
    ("cs.HC", 1), ("cs.SE", 1), ("cs.DS", 1), ("cs.IT", 1.5), ("stat.ML", 2), ("stat.ME", 1.5),
    ("eess.SP", 1.5), ("eess.IV", 1), ("eess.SY", 1.5), ("math.OC", 2), ("math.PR", 2), ("math.CO", 2.5),
    ("math.AP", 2.5), ("math.AG", 1.5), ("math.NT", 1.5), ("math.NA", 1.5), ("math.DG", 1.2),
    ("quant-ph", 5), ("hep-th", 3), ("hep-ph", 3.5), ("hep-ex", 1), ("gr-qc", 2), ("astro-ph.GA", 2.5),
    ("astro-ph.CO", 2), ("astro-ph.SR", 2), ("astro-ph.HE", 2), ("cond-mat.mtrl-sci", 3),
    ("cond-mat.str-el", 2), ("cond-mat.mes-hall", 2.5), ("cond-mat.stat-mech", 2), ("cond-mat.soft", 1.5),
    ("physics.optics", 2), ("physics.flu-dyn", 1.5), ("q-bio.NC", 1), ("econ.EM", 0.5), ("q-fin.ST", 0.4),
]
SURNAMES = (
    "Smith Wang Li Zhang Chen Liu Kumar Singh Garcia Martin Muller Rossi Silva Kim Lee Park Nguyen Tanaka "
    "Sato Ivanov Novak Dubois Schmidt Fischer Weber Meyer Jones Brown Taylor Wilson Lopez Gonzalez Ahmed "
    "Khan Cohen Levi Moreau Bernard Ricci Costa Santos Almeida Yamamoto Suzuki Huang Zhao Wu Zhou Xu Sun"
).split()
INITIALS = "A B C D E F G H I J K L M N O P R S T V W X Y Z".split()
LATEX = ["$\\alpha$", "$O(n\\log n)$", "$\\mathcal{L}$", "$10^{-3}$", "$\\epsilon$", "$k$", "$N=4$",
         "$\\sqrt{s}=13$ TeV", "$p<0.05$", "$\\ell_1$"]
OLD_ARCHIVES = ["hep-th", "hep-ph", "math", "cond-mat", "astro-ph", "quant-ph", "gr-qc", "cs"]


def real_vocabulary() -> list[str]:
    counts: Counter[str] = Counter()
    for line in BUNDLED.read_text(encoding="utf-8").splitlines():
        rec = json.loads(line)
        counts.update(w.lower() for w in re.findall(r"[A-Za-z][A-Za-z\-]+", rec["title"] + " " + rec["abstract"]))
    return [w for w, _ in counts.most_common()]


def vocabulary(size: int = 150_000, seed: int = 0) -> list[str]:
    """The real words, most frequent first, then pseudo-words up to `size` types."""
    words = real_vocabulary()
    seen = set(words)
    rng = random.Random(seed + 7919)
    onsets = "b c d f g h j k l m n p r s t v w z br cr dr fl gr pl pr st tr th sh ch".split()
    vowels = "a e i o u ai ea io ou".split()
    codas = ["", "", "n", "r", "s", "l", "m", "x", "t", "nd", "rt"]
    while len(words) < size:
        n = rng.randint(1, 3)
        w = "".join(rng.choice(onsets) + rng.choice(vowels) for _ in range(n))
        w += rng.choice(codas)
        if w not in seen:
            seen.add(w)
            words.append(w)
    return words


def monthly_counts(n: int) -> list[tuple[int, int, int]]:
    """(year, month, records) from 2007-01 to 2026-06, growing roughly as arXiv's submissions did."""
    months = [(y, m) for y in range(2007, 2027) for m in range(1, 13) if (y, m) <= (2026, 6)]
    w = [4000 * (1.105 ** ((y - 2007) + (m - 1) / 12)) for y, m in months]
    total = sum(w)
    counts = [int(x / total * n) for x in w]
    for i in range(n - sum(counts)):  # distribute the remainder
        counts[i] += 1
    return [(y, m, c) for (y, m), c in zip(months, counts, strict=True)]


def _rfc2822(d: date, rng: random.Random) -> str:
    h, mi, s = rng.randrange(24), rng.randrange(60), rng.randrange(60)
    return f"{d:%a}, {d.day} {d:%b} {d.year} {h:02d}:{mi:02d}:{s:02d} GMT"


def _wrap(text: str, width: int, indent: str) -> str:
    out, line = [], 0
    parts = text.split(" ")
    buf: list[str] = []
    for p in parts:
        if line + len(p) + 1 > width and buf:
            out.append(" ".join(buf))
            buf, line = [], 0
        buf.append(p)
        line += len(p) + 1
    out.append(" ".join(buf))
    return ("\n" + indent).join(out)


def records(n: int, seed: int = 0, vocab_size: int = 150_000) -> Iterator[dict]:
    rng = random.Random(seed)
    words = vocabulary(vocab_size, seed)
    word_cum = list(itertools.accumulate(1.0 / r for r in range(1, len(words) + 1)))
    cats = [c for c, _ in CATEGORIES]
    cat_cum = list(itertools.accumulate(w for _, w in CATEGORIES))
    for year, month, count in monthly_counts(n):
        first = date(year, month, 1)
        ndays = ((date(year + (month == 12), month % 12 + 1, 1)) - first).days
        old_style = year == 2007 and month <= 3
        for j in range(count):
            seq = j + 1
            if old_style:
                arch = OLD_ARCHIVES[seq % len(OLD_ARCHIVES)]  # NNN counts per archive
                arxiv_id = f"{arch}/{year % 100:02d}{month:02d}{seq // len(OLD_ARCHIVES) + 1:03d}"
            elif year < 2015:
                arxiv_id = f"{year % 100:02d}{month:02d}.{seq:04d}"
            else:
                arxiv_id = f"{year % 100:02d}{month:02d}.{seq:05d}"
            tl, al = rng.randint(6, 16), rng.randint(60, 260)
            toks = rng.choices(words, cum_weights=word_cum, k=tl + al)
            title = " ".join(toks[:tl])
            abs_words = toks[tl:]
            if rng.random() < 0.3:
                abs_words[rng.randrange(al)] = rng.choice(LATEX)
            abstract = " ".join(abs_words)
            abstract = abstract[:1].upper() + abstract[1:] + "."
            v1 = first + timedelta(days=j * ndays // count)  # ids are assigned in submission order
            versions = [{"version": "v1", "created": _rfc2822(v1, rng)}]
            d = v1
            v = 2
            while v <= 5 and rng.random() < 0.4:  # 0-4 later versions
                d = min(d + timedelta(days=rng.randint(1, 399)), date(2026, 6, 30))
                versions.append({"version": f"v{v}", "created": _rfc2822(d, rng)})
                v += 1
            primary = rng.choices(cats, cum_weights=cat_cum)[0] if j % 8 else cats[seq % len(cats)]
            cross = rng.choices(cats, cum_weights=cat_cum, k=rng.randint(0, 3))
            rec_cats = list(dict.fromkeys([primary, *cross]))
            n_auth = rng.randint(1, 8)
            parsed = [[rng.choice(SURNAMES), f"{rng.choice(INITIALS)}.", ""] for _ in range(n_auth)]
            names = [f"{f} {s}" for s, f, _ in parsed]
            authors = names[0] if n_auth == 1 else ", ".join(names[:-1]) + " and " + names[-1]
            yield {
                "id": arxiv_id,
                "submitter": names[0],
                "authors": authors,
                "title": _wrap(title[:1].upper() + title[1:], 70, "  "),
                "comments": f"{rng.randint(4, 39)} pages, {rng.randint(1, 11)} figures" if j % 3 else None,
                "journal-ref": None,
                "doi": None,
                "report-no": None,
                "categories": " ".join(rec_cats),
                "license": "http://arxiv.org/licenses/nonexclusive-distrib/1.0/" if j % 2 else None,
                "abstract": "  " + _wrap(abstract, 76, "") + "\n",
                "versions": versions,
                "update_date": d.isoformat(),
                "authors_parsed": parsed,
            }


def write(path: Path, n: int, seed: int = 0, gz: bool = False) -> int:
    """Write n records to path; returns the bytes written (uncompressed)."""
    try:
        import orjson

        dumps = orjson.dumps
    except ImportError:  # pragma: no cover
        def dumps(o):  # type: ignore[misc]
            return json.dumps(o, ensure_ascii=False).encode("utf-8")
    total = 0
    opener = gzip.open if gz else open
    with opener(path, "wb") as fh:
        buf: list[bytes] = []
        for rec in records(n, seed):
            b = dumps(rec) + b"\n"
            total += len(b)
            buf.append(b)
            if len(buf) >= 2000:
                fh.write(b"".join(buf))
                buf.clear()
        fh.write(b"".join(buf))
    return total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--gzip", action="store_true")
    args = ap.parse_args()
    t0 = time.perf_counter()
    size = write(args.out, args.records, args.seed, args.gzip)
    dt = time.perf_counter() - t0
    print(f"wrote {args.records:,} GENERATED dump-shape records to {args.out} ({size / 1e6:,.0f} MB "
          f"uncompressed, {size / max(1, args.records):,.0f} B/record) in {dt:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
