"""What every ``scalenet-*`` command line shares: one-line usage errors and command dispatch.

Bad input exits with status 2 and one line on stderr naming the field (never a traceback), a
file-system error with status 1, and a closed pipe (``... | head``) quietly with status 0.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping
from typing import Any, NoReturn

__all__ = ["OneLineParser", "dispatch"]


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line naming the argument."""

    def error(self, message: str) -> NoReturn:
        """Print ``prog: error: message (see --help)`` and exit with status 2."""
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def dispatch(
    prog: str,
    commands: Mapping[str, Callable[[argparse.Namespace], Any]],
    args: argparse.Namespace,
    *,
    usage_errors: tuple[type[BaseException], ...] = (ValueError,),
) -> int:
    """Run ``commands[args.command](args)`` and turn errors into one line and an exit status.

    Args:
        prog: The program name used in messages, e.g. ``scalenet-space``.
        commands: Sub-command name -> handler.
        args: Parsed arguments with a ``command`` attribute.
        usage_errors: Exceptions that mean bad input (status 2).

    Returns:
        0 on success or a closed pipe, 1 on a file-system error, 2 on bad input.
    """
    try:
        commands[args.command](args)
    except BrokenPipeError:
        return 0
    except usage_errors as error:
        print(f"{prog} {args.command}: error: {_first_line(error)}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"{prog} {args.command}: error: {_first_line(error)}", file=sys.stderr)
        return 1
    return 0


def _first_line(error: BaseException) -> str:
    text = str(error)
    return text.splitlines()[0] if text else type(error).__name__
