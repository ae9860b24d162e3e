"""The ``exchange`` command's sub-commands, one module per part of the hub they serve."""
