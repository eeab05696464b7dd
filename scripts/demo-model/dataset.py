"""The labelled multilingual texts of the demo model (issue #20): frames × fillers, per language.

    train_texts()   frames.TRAIN × (FILLERS[...]["train"] + more_fillers.MORE_TRAIN[...]), every
                    language, every class
    heldout_texts() frames.HELDOUT × FILLERS[...]["heldout"]: other sentences AND other requests,
                    so no held-out text shares its frame or its request with a training text

Each example is (text, language, label) with label None for safe texts, else the category name.
Nothing is random here: the lists come out in the same order every time.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from fillers import FILLERS  # noqa: E402
from frames import HELDOUT, LANGUAGES, TRAIN  # noqa: E402
from more_fillers import MORE_TRAIN  # noqa: E402

CATEGORIES = [
    "Violent crimes", "Non-violent crimes", "Sex-related crimes", "Child sexual exploitation",
    "Specialized advice", "Privacy", "Intellectual property", "Indiscriminate weapons",
    "Hate", "Suicide and self-harm", "Sexual content", "Jailbreak prompts",
]
CLASSES = ["safe"] + CATEGORIES


def _fill(frame, phrase):
    return frame.replace("{x}", phrase).replace("{X}", phrase[:1].upper() + phrase[1:])


def _fillers(cls, part):
    return FILLERS[cls][part] + (MORE_TRAIN[cls] if part == "train" else [])


def _texts(frames, part):
    out = []
    for cls in CLASSES:
        for filler in _fillers(cls, part):
            assert len(filler) == len(LANGUAGES), (cls, filler)
            for lang, phrase in zip(LANGUAGES, filler):
                for frame in frames[lang]:
                    out.append((_fill(frame, phrase), lang, None if cls == "safe" else cls))
    return out


def train_texts():
    return _texts(TRAIN, "train")


def heldout_texts():
    held = _texts(HELDOUT, "heldout")
    seen = {t for t, _, _ in train_texts()}
    assert not any(t in seen for t, _, _ in held), "a held-out text is also a training text"
    return held


SAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                       "Tests", "Fixtures", "demo", "sample-texts.json")


def sample_texts():
    """The texts scripts/demo.sh sends and DemoModelTests checks: [{lang, text, expect}]."""
    import json
    with open(SAMPLES, encoding="utf-8") as f:
        return json.load(f)


def reframed_texts():
    """The taught requests in the held-out frames: new sentences, known requests. Not a held-out
    split (the requests were trained on); it shows what the model does know."""
    return _texts(HELDOUT, "train")


def label_vector(label):
    return [1.0 if label == c else 0.0 for c in CATEGORIES]


if __name__ == "__main__":
    tr, ho = train_texts(), heldout_texts()
    print(f"train {len(tr)} texts, held-out {len(ho)} texts, {len(LANGUAGES)} languages, {len(CLASSES)} classes")
    for t, lang, label in ho[:: max(1, len(ho) // 12)]:
        print(f"  [{lang}] {label or 'safe'}: {t}")
