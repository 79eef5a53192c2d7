"""The paper-level model's input: claim, title and every abstract sentence, each closed by [SEP]."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from tokenizers import Tokenizer

from tools.verifier.paper_encoding import MAX_LENGTH, PairEncoder
from tools.verifier.paper_model import DEFAULT_MODEL

TOK = Tokenizer.from_file(str(DEFAULT_MODEL.parent / "tokenizer.json"))
ENC = PairEncoder(TOK)
words = st.text(alphabet=st.characters(whitelist_categories=("Ll", "Lu", "Nd"), max_codepoint=0x24F),
                min_size=1, max_size=12)
sentence = st.lists(words, min_size=1, max_size=60).map(lambda ws: " ".join(ws) + ".")


def test_a_short_abstract_is_kept_whole_in_order():
    sents = ["Recent work claims that X holds.", "However, we show that X fails at scale.", "Code is released."]
    e = ENC.encode("X holds.", "On X", sents)
    assert e.kept == [0, 1, 2]
    assert [e.input_ids[p] for p in e.sentence_positions] == [ENC.sep] * 3
    assert e.input_ids[0] == ENC.cls and e.token_type_ids[0] == 0 and e.token_type_ids[-1] == 1


@settings(max_examples=60, deadline=None)
@given(claim=sentence, title=sentence, sents=st.lists(sentence, min_size=0, max_size=30))
def test_any_input_fits_and_markers_point_at_sep(claim, title, sents):
    e = ENC.encode(claim, title, sents)
    assert len(e.input_ids) <= MAX_LENGTH and len(e.input_ids) == len(e.token_type_ids)
    assert e.kept == sorted(set(e.kept)) and all(0 <= i < len(sents) for i in e.kept)
    assert len(e.kept) == len(e.sentence_positions)
    assert all(e.input_ids[p] == ENC.sep for p in e.sentence_positions)
    assert e.sentence_positions == sorted(e.sentence_positions)
    if sents:  # the opening sentence always stays in view
        assert e.kept[0] == 0


def test_a_long_abstract_drops_plain_middle_sentences_before_the_turn():
    filler = [f"We describe detail number {i} of the experimental setup in considerable length here." * 2
              for i in range(14)]
    sents = ["Prior work claims that scaling alone suffices."] + filler[:7] + \
        ["However, we find that scaling alone does not suffice."] + filler[7:] + ["We release code."]
    e = ENC.encode("Scaling alone suffices.", "A study", sents)
    assert len(e.input_ids) <= MAX_LENGTH
    turn = sents.index("However, we find that scaling alone does not suffice.")
    assert turn in e.kept and 0 in e.kept and len(sents) - 1 in e.kept
    assert len(e.kept) < len(sents)
