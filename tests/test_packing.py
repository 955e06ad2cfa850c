import random

import lab
from data import CharTokenizer


def test_targets_cover_completions_and_eos_only():
    tok = CharTokenizer()
    tokens, is_target = lab.example_tokens(tok, "12+3\n", "direct\nans 15")
    examples = iter([(tokens, is_target)] * 100)
    x, y = lab.pack_rows(examples, 2, 40, tok.pad_id)
    assert x.shape == y.shape == (2, 40)
    row_x, row_y = x[0].tolist(), y[0].tolist()
    n = len(tokens)
    # within the first example: no loss while predicting the prompt, loss on completion + EOS
    assert row_y[:5] == [-1] * 5  # predicting "12+3\n" from BOS.. is given, not generated
    assert row_y[5:n - 1] == tokens[6:n]
    assert row_x[:n] == tokens and row_x[n] == tok.bos_id  # the next example follows directly


def test_a_rows_first_example_is_not_biased_toward_long_examples():
    """Packing must keep an example's kind independent of its place in the row (a carry-over
    scheme put long examples at row starts more often, and the model learned it)."""
    rng = random.Random(0)

    def examples():
        while True:
            long = rng.random() < 0.5
            length = 80 if long else 20
            yield [1 + long] + [0] * (length - 1), [True] * length
    x, _ = lab.pack_rows(examples(), 2000, 128, pad_id=9)
    starts = x[:, 0]
    share_long = (starts == 2).float().mean().item()
    assert abs(share_long - 0.5) < 0.04
