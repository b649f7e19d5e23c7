"""Notebook 06: DDIM, step skipping and what determinism buys: everything it imports, re-exported from its modules.

``theory`` (q_sigma, the three ways to skip steps, DDIM's geometry), ``editing`` (slerp, inversion),
``speed`` (the speed-quality table and the pre-measured one), ``crosscheck`` (diffusers' DDIMScheduler beside
ours; optional), ``figures``, ``panels``, ``exercises``.
"""
from .crosscheck import *  # noqa: F401,F403
from .editing import *  # noqa: F401,F403
from .exercises import *  # noqa: F401,F403
from .figures import *  # noqa: F401,F403
from .panels import *  # noqa: F401,F403
from .speed import *  # noqa: F401,F403
from .theory import *  # noqa: F401,F403
