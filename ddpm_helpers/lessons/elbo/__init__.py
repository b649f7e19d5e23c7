"""Notebook 05: from the ELBO to the mean squared error: everything it imports, re-exported from the modules below."""
from .exercises import *  # noqa: F401,F403
from .figures import *  # noqa: F401,F403
from .panels import *  # noqa: F401,F403
from .theory import *  # noqa: F401,F403
