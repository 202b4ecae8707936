"""The shipped scheme table (``schemes.toml``); data only, nothing here is executed."""
