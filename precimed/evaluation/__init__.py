"""Evaluation statistics for model cards (computed at training time and stored in the card)."""
