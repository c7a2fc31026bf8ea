"""Imports each admin page group so its routes register on the admin blueprint."""

from . import (
    holds,  # noqa: F401  (legal holds, which keep records from the retention purge)
    invite,  # noqa: F401  (inviting people from the roster to set a password)
    outbox,  # noqa: F401  (the outbox: every email sent or kept)
    passwords,  # noqa: F401  (setting a password, e.g. for people imported from HR)
    roles,  # noqa: F401  (a person's account role)
    roster,  # noqa: F401  (the roster, PHI clearance, the HR import)
    second_factor,  # noqa: F401  (a person's second factor, and its reset)
    xapi,  # noqa: F401  (the xAPI outbox: statements to the learning record store)
)
