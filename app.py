"""The entry point for `flask --app app ...` and for gunicorn (`gunicorn app:app`)."""

import gc

from quiz import create_app

app = create_app()

# Everything built so far (imported code, the app, the parsed content library) lives as long as
# the process. Leaving it out of the cycle collector's full passes keeps those passes from
# stalling a request: with the 25 real modules a full pass took 50-65 ms, with 1,000 modules
# ~95 ms (bench/HISTORY.md, "Garbage collector pauses and the content watcher"). Objects are
# still freed as usual when nothing refers to them; only cycles among these are never collected.
gc.freeze()
