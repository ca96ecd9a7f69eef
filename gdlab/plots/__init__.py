"""Matplotlib figures (the only part of gdlab that imports matplotlib)."""
