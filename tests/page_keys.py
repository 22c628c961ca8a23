"""Find a widget by the name of its key: pages scope keys to the model and input
(``pages._ui.scoped``: ``row__<model id>__<hash>``), so tests look them up by name."""

from __future__ import annotations

from typing import Any


def widget(widgets: Any, name: str) -> Any:
    """The one widget whose key is ``name`` or ``name__<scope>``."""
    found = [w for w in widgets if w.key == name or str(w.key).startswith(f"{name}__")]
    assert len(found) == 1, f"{len(found)} widgets named {name}: {[w.key for w in widgets]}"
    return found[0]


def svg_chart(at: Any, kind: str, title_part: str = "") -> tuple[str, list[dict[str, str]]]:
    """The one SVG chart (``precimed.charts``: kind "waterfall" or "probabilities") on an AppTest
    page whose title contains ``title_part``: (title, its bars top to bottom, as ``data-*``)."""
    import html
    import re

    from precimed.charts import read_svg_bars

    found = []
    for m in at.markdown:
        text = str(m.value)
        if f'data-chart="{kind}"' not in text:
            continue
        title = html.unescape(re.search(r'aria-label="([^"]*)"', text).group(1))  # type: ignore[union-attr]
        if title_part in title:
            found.append((title, read_svg_bars(text)))
    assert len(found) == 1, f"{len(found)} {kind} charts with {title_part!r}: {[t for t, _ in found]}"
    return found[0]
