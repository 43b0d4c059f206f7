"""Dell PowerFlex (ScaleIO) ephemeral storage backend for OpenStack Nova."""

__version__ = "0.1.0"
