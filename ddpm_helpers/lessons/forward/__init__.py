"""Notebooks 01 (the forward process) and 02 (its closed form): everything it imports, re-exported from the modules below."""
from .exercises import *  # noqa: F401,F403
from .experiments import *  # noqa: F401,F403
from .figures import *  # noqa: F401,F403
from .panels import *  # noqa: F401,F403
