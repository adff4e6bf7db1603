"""The ``fleet`` command line. Imports stay light: Pulumi and Celery load only when a command needs them."""
