"""The one exception type digitnet raises for problems a user can fix."""


class DigitnetError(Exception):
    """A problem with the user's input or environment, reported as one line.

    The command line prints the message (no traceback) and exits with
    ``exit_code``: 2 for usage errors, 1 for everything else.
    """

    exit_code = 1


class UsageError(DigitnetError):
    """A value the user passed cannot be used (exit status 2)."""

    exit_code = 2
