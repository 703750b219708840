"""Reading the TOML configuration files (targets, settings, costs) with one set of errors."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any


def read_toml(path: Path | str, what: str, error: type[Exception]) -> dict[str, Any]:
    """The parsed file; ``error`` (a domain exception) says which file and what went wrong."""
    try:
        return tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise error(f"{path}: {what} file not found") from None
    except OSError as exc:  # a directory, no permission...
        raise error(f"{path}: cannot read the {what} file ({exc.strerror})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise error(f"{path}: not valid TOML: {exc}") from None
