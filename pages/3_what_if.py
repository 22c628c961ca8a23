"""What-if: edit a patient's (or compound's) features within the card's limits and watch the
prediction and the SHAP waterfall move; ICE/PDP curves; counterfactuals; named scenarios.
Image models: occlude part of the image and compare an occlusion map with the SHAP heatmap.

A thin view: every computation is in ``precimed.whatif``, the widgets in
``pages/_whatif_table.py``, ``pages/_whatif_panels.py`` and ``pages/_whatif_image.py``. The
editor, results and curves are a fragment: an edit reruns only them. Uploaded tables stay in
this session's memory.
"""

from __future__ import annotations

import streamlit as st

from pages._ui import memo, model_banner, page_setup, pick_model, row_labeller, scoped, show_error, table_input
from precimed.cards import feature_specs, subject_word
from precimed.errors import PrecimedInputError
from precimed.tabular.validate import validate_table
from precimed.whatif.edits import row_values

page_setup()  # runs inside app.py's navigation and its login gate (pages/_ui.py)
st.title("What-if analysis")
bundle = pick_model(None, key="wi_model")
if bundle is None:
    st.stop()
card = bundle.card
model_banner(card)

if bundle.modality == "image":
    from pages._whatif_image import image_whatif

    image_whatif(bundle)
    st.stop()

from pages._whatif_panels import counterfactuals, scenarios  # noqa: E402
from pages._whatif_table import Row, edit_and_results, evaluate  # noqa: E402

subject = subject_word(card)
chosen = table_input(bundle, prefix="wi_", subject=subject)
if chosen is None:
    st.stop()
raw, input_key = chosen
try:
    table = memo("wi_table", (bundle.id, input_key), lambda: validate_table(raw, card))
except PrecimedInputError as exc:
    show_error(exc)
    st.stop()
if not table.valid_rows:
    st.error(f"No row of this table can be used (expected at least one {subject} with valid values).")
    st.stop()

# The row picker is keyed by model and input: a new model or file starts at its first row,
# never at a row number (and label) of the previous one.
r = st.selectbox(f"{subject.capitalize()} (row)", table.valid_rows, key=scoped("wi_row", bundle.id, input_key),
                 format_func=row_labeller(raw))
row = Row(bundle=bundle, specs=feature_specs(card), original=row_values(table, r), table=table,
          input_key=input_key, uploaded=input_key.startswith("upload:"), subject=subject, row=r)

edit_and_results(row)
try:
    original_prediction = evaluate(row, {}).before.prediction
except Exception as exc:  # noqa: BLE001 - the fragment above already said what is wrong
    show_error(exc)
    st.stop()
counterfactuals(row, original_prediction)
scenarios(row)
