import random

import pytest

from data.tokenizer import CHARS, CharTokenizer, TokenizerError


def test_round_trip_of_random_texts():
    tok = CharTokenizer()
    rng = random.Random(0)
    for _ in range(200):
        text = "".join(rng.choice(CHARS) for _ in range(rng.randint(0, 60)))
        ids = tok.encode(text)
        assert len(ids) == len(text)  # one token per character
        assert tok.decode(ids) == text


def test_ids_are_dense_and_specials_come_last():
    tok = CharTokenizer()
    assert tok.encode(CHARS) == list(range(len(CHARS)))
    assert {tok.bos_id, tok.eos_id, tok.pad_id} == set(range(len(CHARS), tok.vocab_size))


def test_decode_stops_at_eos_and_drops_bos_and_pad():
    tok = CharTokenizer()
    ids = [tok.bos_id, *tok.encode("12+3"), tok.pad_id, tok.eos_id, *tok.encode("99")]
    assert tok.decode(ids) == "12+3"


@pytest.mark.parametrize("text, char, position", [("12é", "é", 2), ("AB", "A", 0), ("1+2\t", "\t", 3)])
def test_out_of_vocabulary_character_is_a_clear_error(text, char, position):
    tok = CharTokenizer()
    with pytest.raises(TokenizerError) as info:
        tok.encode(text)
    assert repr(char) in str(info.value) and f"position {position}" in str(info.value)


def test_spec_identifies_the_vocabulary():
    spec = CharTokenizer().spec()
    assert spec["kind"] == "char" and spec["chars"] == CHARS and spec["specials"]
    # any change of the vocabulary or of its order is another spec: ids would mean other characters
    assert spec != CharTokenizer(CHARS[::-1]).spec()
    assert spec != CharTokenizer(CHARS[:-1]).spec()
