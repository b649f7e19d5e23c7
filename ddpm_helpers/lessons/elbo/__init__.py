"""Notebook 05: from the ELBO to the mean squared error: everything it imports, re-exported from the modules below.

``bound`` (the ELBO term by term: Gaussian KL, the eps form, w_t), ``theory`` (w_t through the SNR, the sum
over t, the exact reverse step of mixture data), ``figures``, ``panels``, ``exercises``.
"""
from .bound import *  # noqa: F401,F403
from .exercises import *  # noqa: F401,F403
from .figures import *  # noqa: F401,F403
from .panels import *  # noqa: F401,F403
from .theory import *  # noqa: F401,F403
