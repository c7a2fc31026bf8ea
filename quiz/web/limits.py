"""Request rate limits (Flask-Limiter). Storage from RATELIMIT_STORAGE_URI: use Redis when
running several workers, since memory:// counts per process."""

from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

limiter = Limiter(key_func=get_remote_address, default_limits=[])
