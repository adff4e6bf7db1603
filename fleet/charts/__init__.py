"""Helm charts as fleet uses them: the local chart cache, the repositories, and rendering."""
