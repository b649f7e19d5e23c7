"""The core of the series: the maths, the models, training, checkpoints, data and metrics.

It imports nothing of the notebooks' figures, panels or exercises, so a script can use it alone.
"""
