"""PreciMed home page and navigation.

Pages are the files ``pages/<n>_<name>.py`` (found here, in number order); this file is the
home page. It reads only the model cards, so it renders without importing TensorFlow.

``python app.py [streamlit options]`` (what ``make run`` does) starts the server *and* the
warm-up (:mod:`precimed.warmup`: TensorFlow, SHAP and every shipped bundle loaded, one predict
and one explanation each) in a background thread of the server process, so the first user does
not wait for TensorFlow. The thread waits until the first page a user opens has rendered (at
most ``warmup.FIRST_RUN_WAIT_S``), so that page does not share the CPU with ``import
tensorflow``. Under a bare ``streamlit run app.py`` the warm-up starts with the first session
instead.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from pages._auth import require_login
from pages._ui import NOT_FOR_CLINICAL_USE, cached_bundles
from precimed.registry import bundle_errors, list_bundles

ROOT = Path(__file__).resolve().parent


def page_title(path: Path) -> str:
    """``3_model_cards.py`` → ``Model cards``."""
    stem = path.stem.split("_", 1)[1] if "_" in path.stem else path.stem
    return stem.replace("_", " ").capitalize()


def home() -> None:
    st.title("PreciMed")
    st.markdown(
        "See what a deep-learning model says about a patient, **and why**. Upload imaging "
        "(DICOM) or genomic and clinical tables, run a pretrained model, read its SHAP "
        "explanation, explore what-if changes, score cohorts, and read each model's card."
    )
    st.warning(NOT_FOR_CLINICAL_USE, icon="⚠️")
    st.subheader("Model catalogue")
    bundles = cached_bundles()
    if not bundles:
        st.info("No model bundles are installed under assets/models/.")
    for b in bundles:
        card = b.card
        metrics = card["evaluation"]["metrics"]
        head = metrics.get("auroc") or metrics.get("auroc_macro")
        with st.container(border=True, key=f"catalogue-{b.id}"):
            st.markdown(f"**{card['name']}** · v{card['version']} · {card['modality']} · "
                        f"{card['task']} · `{b.id}`"
                        + (" · **user-supplied**" if card.get("user_supplied") else ""))
            st.caption(card["intended_use"])
            if head:
                st.caption(f"AUROC {head['value']:.3f} (95% CI {head['ci95'][0]:.3f}–{head['ci95'][1]:.3f}), "
                           f"{card['evaluation']['method'].split(';')[0]}; n = {card['training_data']['n']}")
    for folder, why in bundle_errors().items():
        st.error(f"Bundle '{folder}' was refused: {why}")


def main() -> None:
    from streamlit import runtime

    from precimed import warmup

    if runtime.exists() and os.environ.get("PRECIMED_WARMUP", "1") != "0":
        # idempotent: already started when launched by `python app.py`; it begins once this
        # first script run has ended
        warmup.start(defer_s=warmup.FIRST_RUN_WAIT_S)
    st.set_page_config(page_title="PreciMed", page_icon="🧬", layout="wide")
    pages = [st.Page(home, title="Home", icon="🏠", default=True, url_path="home")]
    for path in sorted((ROOT / "pages").glob("[0-9]*_*.py"), key=lambda p: int(p.stem.split("_")[0])):
        pages.append(st.Page(str(path), title=page_title(path), url_path=path.stem.split("_", 1)[1]))
    try:
        # pages/_auth.py: with OIDC login on, anonymous users see only a sign-in screen, at any URL
        require_login([p.url_path for p in pages])
        st.navigation(pages).run()
    finally:  # the sign-in screen, rerun and stop requests end a run too
        warmup.first_run_done()


def serve(argv: list[str]) -> int:
    """Start the warm-up thread, then the Streamlit server on this file, in this process."""
    from streamlit.web import cli

    if os.environ.get("PRECIMED_WARMUP", "1") != "0":
        from precimed import warmup

        warmup.start(defer_s=warmup.FIRST_RUN_WAIT_S)
    # The catalogue's card checks (~0.2 s of schema validation, cached per process) before the
    # port opens, so that the first visitor's home page does not wait for them.
    list_bundles()
    sys.argv = ["streamlit", "run", str(Path(__file__).resolve()), *argv]
    return int(cli.main() or 0)


if get_script_run_ctx() is None:  # `python app.py`: not a script run of a server or AppTest
    sys.exit(serve(sys.argv[1:]))
main()
