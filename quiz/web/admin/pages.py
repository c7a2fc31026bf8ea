"""Imports each admin page group so its routes register on the admin blueprint."""
