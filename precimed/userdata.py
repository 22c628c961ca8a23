"""Per-user folders: where imported models and, by default, the audit log live.

Follows the XDG Base Directory convention (``$XDG_DATA_HOME``, default ``~/.local/share``),
which is what Linux desktop and server tools use for user data.

Example:
    >>> import os; os.environ["PRECIMED_USER_MODELS_DIR"] = "/tmp/m"
    >>> str(user_models_dir())
    '/tmp/m'
"""

from __future__ import annotations

import os
from pathlib import Path

USER_MODELS_ENV = "PRECIMED_USER_MODELS_DIR"


def user_data_dir() -> Path:
    """``$XDG_DATA_HOME/precimed``, else ``~/.local/share/precimed`` (not created here)."""
    base = os.environ.get("XDG_DATA_HOME", "").strip()
    root = Path(base).expanduser() if base else Path.home() / ".local" / "share"
    return root / "precimed"


def user_models_dir() -> Path:
    """Where ``precimed import-model`` installs bundles: ``$PRECIMED_USER_MODELS_DIR``, else
    ``<user data dir>/models``."""
    env = os.environ.get(USER_MODELS_ENV, "").strip()
    return Path(env).expanduser() if env else user_data_dir() / "models"
