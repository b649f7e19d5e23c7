"""Notebook 03: a denoiser for the 2-D two moons: everything it imports, re-exported from the modules below.

``experiments`` (loss baselines, naive step skipping, subtracting the whole noise), ``theory`` (the optimal
denoiser, the loss floor, the moons' mass split), ``figures``, ``panels``, ``exercises``.
"""
from .exercises import *  # noqa: F401,F403
from .experiments import *  # noqa: F401,F403
from .figures import *  # noqa: F401,F403
from .panels import *  # noqa: F401,F403
from .theory import *  # noqa: F401,F403
