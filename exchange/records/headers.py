"""The names of the headers the hub writes on backbone records, all under one prefix.

Two families share the prefix ``x-exchange-``:

- the envelope's fields (``x-exchange-id``, ``-sender``, ``-message-id``, ...), mapped by
  ``exchange.envelope``.  They are the public names too: senders set them on REST, receivers
  get them on every delivery (README, "The REST contract").  One mapping serves the records
  and the outbound requests, so a record's envelope goes out as it came in.
- the hub's own bookkeeping, below: what one stage tells the next on a record.  None of these
  is sent to a receiver (an egress sends the envelope's fields, never a record's headers), and
  none may take the name of an envelope field or of a public HTTP header
  (``tests/unit/test_records.py`` checks both).

Records written before a name changed keep their old name on the backbone until they are
consumed: ``upgraded`` renames them as they are read.
"""

from __future__ import annotations

from collections.abc import Mapping

from exchange.envelope import HEADER_PREFIX

PREFIX = HEADER_PREFIX

# On deliver.<endpoint> and retry.<endpoint>: what the router decided for this copy.
ROUTE = "x-exchange-route"  # the name of the route that chose this destination
ADAPTERS = "x-exchange-adapters"  # the adapter chain that translated it, comma-separated
ENDPOINT = "x-exchange-endpoint"  # the destination endpoint's name

# On retry.<endpoint> only: a rescheduled delivery (never on a dead letter, whose replay
# starts afresh: attempt 1, a new max-age clock).
NEXT_ATTEMPT = "x-exchange-next-attempt"  # the number of the try this record is due for (2+)
RETRY_AT = "x-exchange-retry-at"  # when that try is due (Unix time, seconds)
FIRST_TRY_AT = "x-exchange-first-try-at"  # when the delivery reached the delivery stage (same)
ORDER_GENERATION = "x-exchange-order-generation"  # its correlation id's move count (ordering)
SCHEDULE = frozenset({NEXT_ATTEMPT, RETRY_AT, FIRST_TRY_AT, ORDER_GENERATION})

# On inbound, from a replay of a translation that failed for one destination: the router
# delivers the message to this endpoint only.
ONLY_ENDPOINT = "x-exchange-only-endpoint"

# On any record of the Kafka backbone whose payload is too large for one record: the payload
# is kept in the store under its digest (exchange/backbone/claims.py).
CLAIM = "x-exchange-claim"  # "sha256:<hex digest>" of the payload
CLAIM_BYTES = "x-exchange-claim-bytes"  # its size in bytes
CLAIM_HEADERS = frozenset({CLAIM, CLAIM_BYTES})
# Set by the consumer on a record whose claimed payload could not be had (says why); the
# stage dead-letters it, and the dead letter keeps it.
CLAIM_ERROR = "x-exchange-claim-error"

# On dead-letters: why and where the hub gave up, and where a replay publishes it again.
DEAD_LETTER_ID = "x-exchange-dead-letter-id"  # the dead letter's own id (a UUID)
DEAD_LETTER_STAGE = "x-exchange-dead-letter-stage"  # "route" or "deliver"
DEAD_LETTER_ENDPOINT = "x-exchange-dead-letter-endpoint"  # the endpoint, if it was for one
DEAD_LETTER_REASON = "x-exchange-dead-letter-reason"  # what went wrong (up to 2000 characters)
DEAD_LETTER_TOPIC = "x-exchange-dead-letter-topic"  # the topic a replay publishes to
DEAD_LETTER_AT = "x-exchange-dead-letter-at"  # when the hub gave up (ISO 8601, UTC)
DEAD_LETTER = frozenset(
    {
        DEAD_LETTER_ID,
        DEAD_LETTER_STAGE,
        DEAD_LETTER_ENDPOINT,
        DEAD_LETTER_REASON,
        DEAD_LETTER_TOPIC,
        DEAD_LETTER_AT,
    }
)

# Every name above, for the checks that keep them apart from the envelope's.
INTERNAL = frozenset(
    {ROUTE, ADAPTERS, ENDPOINT, ONLY_ENDPOINT, CLAIM_ERROR} | SCHEDULE | CLAIM_HEADERS | DEAD_LETTER
)

# Names earlier versions wrote, and what they are called now.  "x-exchange-attempt" is
# the HTTP header a receiver gets (the try being sent), not the next try on a retry record.
LEGACY = {
    "x-exchange-attempt": NEXT_ATTEMPT,
    "x-dead-letter-id": DEAD_LETTER_ID,
    "x-dead-letter-stage": DEAD_LETTER_STAGE,
    "x-dead-letter-endpoint": DEAD_LETTER_ENDPOINT,
    "x-dead-letter-reason": DEAD_LETTER_REASON,
    "x-dead-letter-topic": DEAD_LETTER_TOPIC,
    "x-dead-letter-at": DEAD_LETTER_AT,
}
_LEGACY_NAMES = frozenset(LEGACY)


def upgraded(headers: Mapping[str, str]) -> Mapping[str, str]:
    """``headers`` with the names of earlier versions renamed (``headers`` itself if none)."""
    if _LEGACY_NAMES.isdisjoint(headers):  # every record the current code writes
        return headers
    renamed = {LEGACY.get(name, name): value for name, value in headers.items()}
    # A current name wins over a legacy one (it was written later, by this version).
    renamed.update({name: value for name, value in headers.items() if name not in LEGACY})
    return renamed
