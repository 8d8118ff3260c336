"""Restora: a local, non-destructive photo editor for retouchers.

Package layout (dependency direction, never the other way):
``qt -> tools -> (engine, faces, video) -> nets -> torch``; everything may use ``core``.
Only ``editor.qt`` (and ``editor.app``) import PySide6.
"""

__version__ = "0.1.0"

import os as _os

# torch's OpenMP threads spin-wait between parallel regions by default. On a desktop the
# editor shares the cores with the GUI, the user's other programs and other jobs; measured
# here with another process on the cores, 2-thread steps ran 3–5x slower spinning than
# sleeping. Set before torch is first imported (it reads this once); users can override.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
