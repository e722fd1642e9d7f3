"""Facial expressions as blends of MakeHuman's CC0 expression units.

The units are FACS-like muscle actions (mouth-corner-puller ~ AU12 smile,
eye-closure ~ AU45 blink, mouth-open ~ AU26/27 jaw drop...). A preset names a
blend; each frame scales it by a sampled intensity and jitters every unit a
little so no two smiles are identical.
"""

UNITS = (
    "eye-left-closure",
    "eye-left-opened-up",
    "eye-left-slit",
    "eye-right-closure",
    "eye-right-opened-up",
    "eye-right-slit",
    "eyebrows-left-down",
    "eyebrows-left-extern-up",
    "eyebrows-left-inner-up",
    "eyebrows-left-up",
    "eyebrows-right-down",
    "eyebrows-right-extern-up",
    "eyebrows-right-inner-up",
    "eyebrows-right-up",
    "mouth-compression",
    "mouth-corner-puller",
    "mouth-depression-retraction",
    "mouth-depression",
    "mouth-elevation",
    "mouth-eversion",
    "mouth-open",
    "mouth-parling",
    "mouth-part-later",
    "mouth-protusion",
    "mouth-pursing",
    "mouth-retraction",
    "mouth-upward-retraction",
    "neck-platysma",
    "nose-compression",
    "nose-depression",
    "nose-left-dilatation",
    "nose-left-elevation",
    "nose-right-dilatation",
    "nose-right-elevation",
)

PRESETS: dict[str, dict[str, float]] = {
    "neutral": {},
    "smile": {"mouth-corner-puller": 0.9, "eye-left-slit": 0.3, "eye-right-slit": 0.3, "mouth-retraction": 0.2},
    "open_mouth": {"mouth-open": 0.85, "eyebrows-left-up": 0.15, "eyebrows-right-up": 0.15},
    "blink": {"eye-left-closure": 1.0, "eye-right-closure": 1.0},
    "surprise": {
        "eyebrows-left-up": 0.9,
        "eyebrows-right-up": 0.9,
        "eye-left-opened-up": 0.7,
        "eye-right-opened-up": 0.7,
        "mouth-open": 0.5,
    },
    "frown": {"eyebrows-left-down": 0.8, "eyebrows-right-down": 0.8, "mouth-depression": 0.6, "nose-compression": 0.3},
    "pout": {"mouth-protusion": 0.7, "mouth-pursing": 0.6},
    "talk": {"mouth-open": 0.35, "mouth-parling": 0.4, "mouth-elevation": 0.2},
}

ETHNICITIES = ("african", "asian", "caucasian")
