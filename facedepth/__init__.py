"""Monocular face depth: depth networks, losses, training and inference (torch only; never imports bpy).

import facedepth
predictor = facedepth.load()                 # the shipped reference model
result = predictor.predict("photo.jpg")      # RGB uint8 array, PIL image or path
result.depth, result.valid                   # metres (NaN outside the person), bool mask
"""

__version__ = "0.3.0"


def load(model=None, device=None, mirror=True, views=True):
    """A Predictor: the shipped model by default, or a checkpoint file, a folder with best.pt, a trained name;
    each crop averaged with its mirror image and with itself zoomed in and out (predict.VIEWS), as
    `facedepth predict` does (mirror=False: half the time; views=False: a third)."""
    from facedepth.predict import VIEWS, Predictor

    return Predictor(model, device, mirror=mirror, views=VIEWS if views else ())


def __getattr__(name):  # Predictor and Prediction on first use: `import facedepth` stays light
    if name in ("Predictor", "Prediction"):
        from facedepth import predict

        return getattr(predict, name)
    raise AttributeError(f"module 'facedepth' has no attribute {name!r}")
