"""phone_tui: a terminal emulator of a secure government handset."""

__version__ = "0.1.0"

import logging as _logging

# Library logging stays silent until the CLI attaches the log file.
_logging.getLogger("phone_tui").addHandler(_logging.NullHandler())
