"""What the command line does, as functions that return data: fit / predict / evaluate on
tables, and the tour behind ``gdlab demo``.

Imports every lower package (core, engines, io, estimators, functions, teach, plots); only
:mod:`gdlab.cli` imports it. Nothing here prints.
"""
