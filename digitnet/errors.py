"""The one exception type digitnet raises for problems a user can fix."""

from __future__ import annotations

# Long enough for two paths and a reason; longer messages are cut so an error
# never floods the terminal (a Keras message can quote a whole model config).
MAX_MESSAGE_CHARS = 400


class DigitnetError(Exception):
    """A problem with the user's input or environment, reported as one line.

    The command line prints the message (no traceback) and exits with
    ``exit_code``: 2 for usage errors, 1 for everything else.
    """

    exit_code = 1


class UsageError(DigitnetError):
    """A value the user passed cannot be used (exit status 2)."""

    exit_code = 2


def one_line(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """``text`` with line breaks and runs of spaces collapsed, cut to ``limit`` characters."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def reason(exc: BaseException) -> str:
    """What went wrong, in a few words: an OSError's own text ("Permission denied"), else the message."""
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
