"""The entry point for `flask --app app ...` and for gunicorn (`gunicorn app:app`)."""

from quiz import create_app

app = create_app()
