"""Notebook 04: a U-Net on FashionMNIST: everything it imports, re-exported from the modules below."""
from .anatomy import *  # noqa: F401,F403
from .exercises import *  # noqa: F401,F403
from .figures import *  # noqa: F401,F403
from .panels import *  # noqa: F401,F403
from .troubleshooting import *  # noqa: F401,F403
