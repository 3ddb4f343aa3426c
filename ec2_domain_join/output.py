"""What every command shares: the exit codes, the two consoles, and ``Failed`` (an expected failure).

Exit codes (every command; also in ``ec2-domain-join --help`` and docs/cli.md)::

    0  done
    1  a problem was found, or the operation was refused or failed (the reason is printed)
    2  usage: an unknown command or option, a missing argument, no hub Region
    3  AWS access: no credentials, access denied (the action is named), throttled or unavailable
    4  not found: an unknown instance, table or queue

Results go to standard output, ``error: ...`` lines and progress to standard error; never a traceback.
"""

from __future__ import annotations

import datetime
import sys
from collections.abc import Sequence
from typing import Final

from rich.console import Console

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_USAGE: Final = 2
EXIT_AWS: Final = 3
EXIT_NOT_FOUND: Final = 4

# click keeps a paragraph that starts with \b as it is (no rewrapping).
EXIT_CODES_HELP: Final = """\b
Exit codes:
  0  done
  1  a problem was found, or the operation was refused or failed
  2  usage: unknown command or option, missing argument, no hub Region
  3  AWS access: no credentials, access denied (action named), throttled
  4  not found: unknown instance, table or queue"""

# Piped output (a file, grep, a test) is not cut to 80 columns; a terminal gets its own width.
_PIPED_WIDTH: Final = 200
out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else _PIPED_WIDTH)
err = Console(stderr=True, highlight=False, soft_wrap=True)


class Failed(Exception):
    """An expected failure: its lines are printed as ``error:`` lines and the command exits ``code``."""

    def __init__(self, lines: Sequence[str], code: int = EXIT_FAILED) -> None:
        super().__init__("\n".join(lines))
        self.lines = list(lines)
        self.code = code


def aligned(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Rows as lines of left-aligned columns (two spaces apart), one line per row however long its last
    column is (a rich table would wrap it): for output that is read one line per item, and grepped."""
    widths = [max(len(r[n]) for r in (header, *rows)) for n in range(len(header) - 1)]
    return [
        "  ".join([*(cell.ljust(w) for cell, w in zip(r, widths, strict=False)), r[-1]])
        for r in (header, *rows)
    ]


def when(epoch: int, now: float | None = None) -> str:
    """``2026-12-02 15:04:05Z (3 min ago)``; ``-`` for 0 (never)."""
    if not epoch:
        return "-"
    moment = datetime.datetime.fromtimestamp(epoch, datetime.UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    if now is None:
        return moment
    return f"{moment} ({ago(int(now) - epoch)})"


def ago(seconds: int) -> str:
    """``45 s ago``, ``12 min ago``, ``3 h ago``, ``2 d ago``; ``in 30 s`` for the future."""
    future = seconds < 0
    seconds = abs(seconds)
    if seconds < 120:
        text = f"{seconds} s"
    elif seconds < 2 * 3600:
        text = f"{seconds // 60} min"
    elif seconds < 2 * 86400:
        text = f"{seconds // 3600} h"
    else:
        text = f"{seconds // 86400} d"
    return f"in {text}" if future else f"{text} ago"
