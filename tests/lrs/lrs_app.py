"""ralph's LRS app (``ralph.api:app``), as tests/test_xapi.py serves it with uvicorn from the LRS's
virtualenv (.venv-lrs): its file backend made to append each batch of statements to its file.

ralph 5.1.0's file backend writes with the "create" operation, which refuses a file that is
there already, so only the first batch ever posted is stored (every later one gets "500
Statements bulk indexation failed"). Appending is what a store must do; nothing else changes."""

from ralph.backends.data.base import BaseOperationType
from ralph.backends.lrs.fs import FSLRSBackend

FSLRSBackend.default_operation_type = BaseOperationType.APPEND

from ralph.api import app  # noqa: E402  (after the backend is set to append)

__all__ = ["app"]
