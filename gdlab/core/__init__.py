"""The learning core: losses, models, optimizers, schedules, batch sources and the one loop.

Everything here is plain NumPy (SciPy for the stable special functions) and importable on a
machine without a compiler. It imports nothing from the rest of gdlab; every other package
stands on it. Accelerators plug in through :mod:`gdlab.core.engine` (a registry the loop and
the models ask), never by import from here.
"""
