"""Mask labels of the data contract, defined once for the renderer, prepare and the networks (docs/rendering.md)."""

BACKGROUND, FACE, HAIR, EYES, MOUTH, BODY, CLOTHES, GLASSES, LENS = range(9)
LABELS = {
    "background": BACKGROUND,
    "face": FACE,
    "hair": HAIR,
    "eyes": EYES,
    "mouth": MOUTH,
    "body": BODY,
    "clothes": CLOTHES,
    "glasses": GLASSES,
    "lens": LENS,
}
HEAD_LABELS = (FACE, HAIR, EYES, MOUTH, GLASSES, LENS)  # the head: what depth metrics are scored on

# Face parts (the data contract's .parts.png): a finer labelling of the head beside the labels above, which keep
# their numbers. 0 is everything that is no face part (background, body, clothes, scalp hair, glasses).
NO_PART, SKIN, BROWS, UPPER_LIP, LOWER_LIP, NOSE, EARS, EYE, TEETH, MOUTH_INSIDE, BEARD = range(11)
PARTS = {
    "none": NO_PART,
    "skin": SKIN,  # face skin that is no other part
    "brows": BROWS,  # the brow hairs and the skin under them
    "upper_lip": UPPER_LIP,
    "lower_lip": LOWER_LIP,
    "nose": NOSE,
    "ears": EARS,
    "eyes": EYE,  # eyeballs and lashes
    "teeth": TEETH,
    "mouth": MOUTH_INSIDE,  # tongue and the mouth's cavity
    "beard": BEARD,  # facial hair strands
}
# A material's pass index is label + PART_STRIDE * part, so the one hard material-index pass carries both.
PART_STRIDE = 16
