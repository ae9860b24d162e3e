"""Topic names on the backbone."""

INBOUND = "inbound"
DEAD_LETTERS = "dead-letters"
EVENTS = "events"


def delivery_topic(endpoint: str) -> str:
    """One topic per destination endpoint, so a slow receiver never holds up the others."""
    return f"deliver.{endpoint}"


def retry_topic(endpoint: str) -> str:
    """Deliveries to ``endpoint`` waiting for another try, each with its attempt and due time.

    Kept on the backbone (not in memory) so that a restart goes on with the next attempt at
    its time instead of starting over."""
    return f"retry.{endpoint}"
