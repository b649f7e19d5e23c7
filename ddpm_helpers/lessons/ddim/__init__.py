"""Notebook 06: DDIM, step skipping and what determinism buys: everything it imports, re-exported from the modules below."""
from .editing import *  # noqa: F401,F403
from .exercises import *  # noqa: F401,F403
from .figures import *  # noqa: F401,F403
from .panels import *  # noqa: F401,F403
from .theory import *  # noqa: F401,F403
