"""The browser playground: one self-contained HTML page per function.

``page`` gathers what needs Python (f and its exact gradient printed as JavaScript by SymPy in
``jsgen``, the value grid, contour levels, critical points) and inlines it with ``static/``:
``optim.js`` (gdlab's optimizers, schedules and descent loop, rule for rule) and
``playground.js`` (drawing and interaction on plain canvas). ``network`` trains gdlab's
MLPClassifier on two features and writes a page replaying the fit epoch by epoch
(``static/network.js``). No library is vendored; the pages make no network request.

Imports :mod:`gdlab.core`, :mod:`gdlab.functions`, :mod:`gdlab.estimators` and
:mod:`gdlab.io` only.
"""

from gdlab.playground.page import Playground, build_playground, render_page, write_playground

__all__ = ["Playground", "build_playground", "render_page", "write_playground"]
