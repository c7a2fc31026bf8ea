"""Imports each admin page group so its routes register on the admin blueprint."""
from . import roster  # noqa: F401  (the roster, PHI clearance, the HR import)
from . import outbox  # noqa: F401  (the outbox: every email sent or kept)
from . import passwords  # noqa: F401  (setting a password, e.g. for people imported from HR)
from . import roles  # noqa: F401  (a person's account role)
