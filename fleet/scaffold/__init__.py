"""Templates written by ``fleet init``."""
