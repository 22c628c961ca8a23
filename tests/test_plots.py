"""Figure functions: the beeswarm draws with SVG unless the dots are many (WebGL only pays off
there; a software-GL context cost seconds to open a page in a browser without a GPU)."""

from __future__ import annotations

import numpy as np

from precimed.plots import WEBGL_POINTS, beeswarm_figure


def test_beeswarm_is_svg_for_few_dots_and_webgl_for_many() -> None:
    rng = np.random.default_rng(0)
    few = beeswarm_figure(rng.normal(size=(6, 4)), rng.normal(size=(6, 4)), list("abcd"), class_name="x")
    assert {t.type for t in few.data} == {"scatter"} and len(few.data) == 4
    n = WEBGL_POINTS // 4 + 1
    many = beeswarm_figure(rng.normal(size=(n, 4)), rng.normal(size=(n, 4)), list("abcd"), class_name="x")
    assert {t.type for t in many.data} == {"scattergl"}
    # the strongest feature on top (last trace), whatever the renderer
    values = np.column_stack([np.full(6, 0.1), np.full(6, -2.0), np.zeros(6), np.full(6, 0.5)])
    fig = beeswarm_figure(values, values, list("abcd"), class_name="x")
    assert fig.data[-1].name == "b" and list(fig.layout.yaxis.ticktext)[-1] == "b"
