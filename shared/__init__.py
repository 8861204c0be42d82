"""Homeward's shared kernel: what every service uses the same way."""
