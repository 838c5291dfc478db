"""Failures as one line on stderr and an exit status, never a traceback (unless --debug).

Every command of digitnet.cli is wrapped by ``reports_errors``: DigitnetError → one line,
exit 2 for usage and 1 for the rest; Ctrl-C → 130 and SIGTERM → 143 after clean-up.
"""

from __future__ import annotations

import functools
import os
import signal
import sys

import click

from .errors import DigitnetError

EXIT_SIGINT = 130
EXIT_SIGTERM = 143


class Terminated(BaseException):
    """Raised in the main thread when SIGTERM arrives, so clean-up code runs."""


def _raise_terminated(signum, frame):
    raise Terminated()


def _as_click_error(exc: DigitnetError) -> click.ClickException:
    from .errors import one_line

    error = click.ClickException(one_line(str(exc)))
    error.exit_code = exc.exit_code
    return error


def _stopped(how: str) -> None:
    # On a terminal, first end the line a progress bar may have left open.
    click.echo(("\n" if sys.stderr.isatty() else "") + f"digitnet: {how}; no file was left half-written", err=True)


def reports_errors(func):
    """Add --verbose/--debug and report failures as one line, never a traceback.

    KeyboardInterrupt exits 130 and SIGTERM 143 after clean-up (temporary files are
    removed by the code that made them).  --debug lets every exception through.
    """

    @click.option("--verbose", is_flag=True, help="Show TensorFlow's own log messages.")
    @click.option("--debug", is_flag=True, help="Show full tracebacks instead of one-line errors.")
    @functools.wraps(func)
    def wrapper(*args, debug: bool, verbose: bool, **kwargs):
        from .backend import configure_logging

        configure_logging(verbose)
        previous = None
        try:
            previous = signal.signal(signal.SIGTERM, _raise_terminated)
        except ValueError:  # not the main thread (e.g. inside a test runner's worker)
            pass
        try:
            return func(*args, **kwargs)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except DigitnetError as exc:
            if debug:
                raise
            raise _as_click_error(exc) from None
        except KeyboardInterrupt:
            if debug:
                raise
            _stopped("interrupted")
            sys.exit(EXIT_SIGINT)
        except Terminated:
            if debug:
                raise
            _stopped("terminated")
            sys.exit(EXIT_SIGTERM)
        except BrokenPipeError:
            # The reader went away (`digitnet predict ... | head -1`): not an error worth a
            # message.  Point stdout at /dev/null so the final flush at exit cannot fail again.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(1)
        except Exception as exc:
            if debug:
                raise
            from .errors import one_line

            message = one_line(str(exc).strip().splitlines()[0], 200) if str(exc).strip() else ""
            raise click.ClickException(
                f"unexpected {type(exc).__name__}{': ' + message if message else ''} "
                "(run again with --debug for details)"
            ) from None
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)

    return wrapper
