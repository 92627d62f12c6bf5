"""Passwords too common to accept: the 30,000 most frequent passwords of public breach corpora,
as zxcvbn ships them (its `passwords` frequency list, MIT licence), compared
case-insensitively. Shipped with the package, so the check works offline."""

import functools


@functools.cache
def common_passwords() -> frozenset[str]:
    """Loaded once: the users module warms it at start-up, off the event loop."""
    # Imported here: importing zxcvbn takes a while, paid only when the list is needed.
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(password.lower() for password in FREQUENCY_LISTS["passwords"])


def is_common(password: str) -> bool:
    return password.lower() in common_passwords()
