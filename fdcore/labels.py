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
