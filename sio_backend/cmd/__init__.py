"""Console commands of sio_backend (``sio-backend <command>``)."""
