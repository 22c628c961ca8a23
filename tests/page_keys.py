"""Find a widget by the name of its key: pages scope keys to the model and input
(``pages._ui.scoped``: ``row__<model id>__<hash>``), so tests look them up by name."""

from __future__ import annotations

from typing import Any


def widget(widgets: Any, name: str) -> Any:
    """The one widget whose key is ``name`` or ``name__<scope>``."""
    found = [w for w in widgets if w.key == name or str(w.key).startswith(f"{name}__")]
    assert len(found) == 1, f"{len(found)} widgets named {name}: {[w.key for w in widgets]}"
    return found[0]
