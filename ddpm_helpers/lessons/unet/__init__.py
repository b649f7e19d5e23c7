"""Notebook 04: a U-Net on FashionMNIST: everything it imports, re-exported from the modules below.

``anatomy`` (shapes, loss per timestep, x_0 predictions), ``troubleshooting`` (the classic sampler bugs,
on ``core.respace``'s schedules), ``quality`` (the model card's FID/KID and mode coverage in words),
``diagram`` (the U-Net drawn from a traced forward pass), ``figures``, ``panels``, ``exercises``.
"""
from .anatomy import *  # noqa: F401,F403
from .diagram import *  # noqa: F401,F403
from .exercises import *  # noqa: F401,F403
from .figures import *  # noqa: F401,F403
from .panels import *  # noqa: F401,F403
from .quality import *  # noqa: F401,F403
from .troubleshooting import *  # noqa: F401,F403
