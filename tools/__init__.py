"""Developer and test tools that are not part of the hub's package (``exchange``)."""
