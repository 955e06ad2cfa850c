"""The lab's character-level tokenizer, built locally as a `tiktoken.Encoding`.

tiktoken's named encodings (gpt2, cl100k_base, ...) are downloaded on first use, which an offline
lab cannot do, and they would also split "12345" into arbitrary multi-digit pieces. Here every
allowed character is one token: the mergeable ranks hold single bytes only, so byte-pair merging
never fires and `encode` is a plain character lookup done by tiktoken's Rust core.

tiktoken panics (pyo3 `PanicException`, not an `Exception`) on a byte it has no rank for, so every
text is validated first and a character outside the vocabulary raises `TokenizerError`, naming the
character and its position.
"""
import tiktoken

# Digits, lower-case letters, the operators and punctuation the tasks and their prompt perturbations
# use, space and newline. The order fixes the token ids: changing it invalidates every checkpoint.
CHARS = "0123456789abcdefghijklmnopqrstuvwxyz+-*=%>?:,;|_#.!() \n"
BOS, EOS, PAD = "<|bos|>", "<|eos|>", "<|pad|>"
SPECIALS = (BOS, EOS, PAD)


class TokenizerError(ValueError):
    """Text that cannot be tokenized: the message names the character and its position."""


class CharTokenizer:
    def __init__(self, chars=CHARS):
        if len(set(chars)) != len(chars):
            raise TokenizerError("the tokenizer's characters must be distinct")
        self.chars = chars
        self.allowed = frozenset(chars)
        ranks = {ch.encode("utf-8"): i for i, ch in enumerate(chars)}
        specials = {name: len(chars) + i for i, name in enumerate(SPECIALS)}
        self.encoding = tiktoken.Encoding(
            name="tinyreason-chars",
            pat_str=r"[\s\S]",  # one regex piece per character
            mergeable_ranks=ranks,
            special_tokens=specials,
        )
        self.bos_id, self.eos_id, self.pad_id = (specials[s] for s in SPECIALS)
        self.vocab_size = len(chars) + len(SPECIALS)

    def spec(self):
        """What a checkpoint stores to check that it is loaded with the same tokenizer."""
        return {"kind": "char", "chars": self.chars, "specials": list(SPECIALS)}

    def validate(self, text):
        for position, ch in enumerate(text):
            if ch not in self.allowed:
                raise TokenizerError(
                    f"character {ch!r} at position {position} of {text[:40]!r} is not in the "
                    f"vocabulary; allowed are digits, a-z, space, newline and {CHARS[36:-2]!r}")

    def encode(self, text):
        self.validate(text)
        return self.encoding.encode_ordinary(text)

    def decode(self, ids):
        """Text of `ids`, stopping at the first EOS and dropping BOS/PAD."""
        out = []
        for i in ids:
            if i == self.eos_id:
                break
            if i < len(self.chars):
                out.append(i)
        return self.encoding.decode(out)

