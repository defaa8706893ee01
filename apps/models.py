"""Every model family the apps know, imported explicitly so the registry is filled, and ``load_model``."""

import audio.convtasnet.model  # noqa: F401
import audio.mossformer2.model  # noqa: F401
import vision.digits.model  # noqa: F401  (registers crnn-zhan2017, crnn-digits)
import vision.fernn.model  # noqa: F401
import vision.frvsr.model  # noqa: F401
import vision.raptor.surrogate  # noqa: F401  (registers raptor)
import vision.raptor.teacher  # noqa: F401  (registers vit-fmnist)
from recurrent.registry import WeightsError, get_model, list_models, load_model

__all__ = ["WeightsError", "get_model", "list_models", "load_model"]
