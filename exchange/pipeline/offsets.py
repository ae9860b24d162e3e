"""Committing only what is finished, while records finish out of order."""

from __future__ import annotations


class OffsetTracker:
    """Tracks in-flight offsets of one partition; ``committable`` is the next offset to read
    such that every record before it is finished (Kafka's convention)."""

    def __init__(self) -> None:
        self._pending: dict[int, bool] = {}  # offset -> done, in fetch (= offset) order
        self._committable: int | None = None

    def started(self, offset: int) -> None:
        self._pending[offset] = False

    def finished(self, offset: int) -> None:
        self._pending[offset] = True
        while self._pending:
            first = next(iter(self._pending))
            if not self._pending[first]:
                break
            del self._pending[first]
            self._committable = first + 1

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    def take_committable(self) -> int | None:
        """The offset to commit now, once (None when nothing new finished)."""
        value, self._committable = self._committable, None
        return value

    def restore(self, offset: int) -> None:
        """Give back an offset whose commit failed, so the next flush tries it again."""
        if self._committable is None or self._committable < offset:
            self._committable = offset
