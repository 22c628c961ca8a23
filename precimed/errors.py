"""Exceptions that carry a message fit to show a user.

A :class:`PrecimedInputError` is the user's to fix (bad file, wrong column, unknown model): the
command line prints it as one ``error:`` line and exits 2; pages show it with ``st.error``.
Anything else is an internal fault.
"""

from __future__ import annotations


class PrecimedInputError(ValueError):
    """Input or usage the user can fix.

    The message says what is wrong and, in parentheses, what is expected.

    Example:
        >>> raise PrecimedInputError("column 'age' is missing", expected="the 80 inputs of the card")
        Traceback (most recent call last):
        ...
        precimed.errors.PrecimedInputError: column 'age' is missing (expected: the 80 inputs of the card)
    """

    def __init__(self, what: str, expected: str | None = None) -> None:
        self.what = what
        self.expected = expected
        super().__init__(f"{what} (expected: {expected})" if expected else what)


class BundleError(PrecimedInputError):
    """A model bundle is missing, invalid, or its weights do not match its card."""


class DicomInputError(PrecimedInputError):
    """A DICOM file or archive cannot be used; the message names the file and the reason."""


class NothingScoredError(PrecimedInputError):
    """Nothing in the input could be scored; ``rows`` says, per item, why (the command line
    prints them, then the ``error:`` line, and exits 2)."""

    def __init__(self, what: str, rows: list[dict[str, object]], expected: str | None = None) -> None:
        super().__init__(what, expected=expected)
        self.rows = rows
