"""Notebook 07: guidance: everything it imports, re-exported from the modules below.

``theory`` (the exact guided score of labelled moons, the tilted target, the guidance sweep), ``figures``,
``panels``, ``exercises`` (the self-checks of the exercises), ``fashion`` (section 3: the class-conditional
U-Net's class grid, class/scale panel and trade-off curve).
"""
from .exercises import *  # noqa: F401,F403
from .fashion import *  # noqa: F401,F403
from .figures import *  # noqa: F401,F403
from .panels import *  # noqa: F401,F403
from .theory import *  # noqa: F401,F403
