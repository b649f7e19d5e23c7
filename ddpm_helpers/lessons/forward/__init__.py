"""Notebooks 01 (the forward process) and 02 (its closed form): everything they import, re-exported from its modules.

``experiments`` (the chain, its variance, terminal SNR, chain against jump), ``figures``, ``panels``, ``exercises``.
"""
from .exercises import *  # noqa: F401,F403
from .experiments import *  # noqa: F401,F403
from .figures import *  # noqa: F401,F403
from .panels import *  # noqa: F401,F403
