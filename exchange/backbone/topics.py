"""Topic names on the backbone."""

INBOUND = "inbound"
DEAD_LETTERS = "dead-letters"
EVENTS = "events"


def delivery_topic(endpoint: str) -> str:
    """One topic per destination endpoint, so a slow receiver never holds up the others."""
    return f"deliver.{endpoint}"
