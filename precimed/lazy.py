"""The heavy optional imports (TensorFlow, Keras, SHAP), one thread at a time.

Importing TensorFlow from two threads at once can deadlock Python's per-module import locks
(``_DeadlockError`` in ``tensorflow.python.trackable``, measured here: the server's warm-up
thread importing ``tensorflow`` while a page's script thread imported ``keras``). Every lazy
import of these packages goes through this module, under one re-entrant lock; once imported,
a call is a dictionary lookup plus an uncontended lock.

Example:
    >>> keras = lazy.keras()  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
import os
import threading
from types import ModuleType

_LOCK = threading.RLock()


def _load(name: str) -> ModuleType:
    with _LOCK:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
        return importlib.import_module(name)


def tensorflow() -> ModuleType:
    """``import tensorflow``, serialised."""
    return _load("tensorflow")


def keras() -> ModuleType:
    """``import keras``, serialised (it imports TensorFlow)."""
    return _load("keras")


def shap() -> ModuleType:
    """``import shap``, serialised (its deep explainers import TensorFlow)."""
    return _load("shap")
