"""`strip_controls` drops what its pattern finds; an ASCII text without any is given back without the pattern's
scan (pipeline/sanitize.py)."""

import random

from pipeline.sanitize import _CONTROL, strip_controls


def test_strip_controls_drops_what_the_pattern_finds():
    rng = random.Random(5)
    alphabet = [chr(c) for c in range(0x100)] + ["\u2028", "\ufffe", "\ud800", "é", "–"]
    texts = ["", "Peer support\tin Leeds\r\n", "a\x00b\x1bc\x7fd", "a\x85b", "Café", "x" * 5000 + "\x01"]
    texts += [chr(c) for c in range(0x100)]
    texts += ["".join(rng.choices(alphabet[:128], k=rng.randint(1, 40))) for _ in range(3000)]
    texts += ["".join(rng.choices(alphabet, k=rng.randint(1, 40))) for _ in range(3000)]
    for text in texts:
        assert strip_controls(text) == _CONTROL.sub("", text), repr(text)
    assert strip_controls("Peer\x0bsupport\x1f") == "Peersupport"
