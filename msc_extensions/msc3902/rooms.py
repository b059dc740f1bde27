"""What the resync loop knows of each partial-state room, and how the admin API
shows it."""

import attr


@attr.s(slots=True, auto_attribs=True)
class RoomResyncState:
    """What the scheduler knows of one partial-state room."""

    room_id: str
    joined_via: str | None
    next_attempt_ms: int
    join_time_ms: int | None = None
    attempts: int = 0
    consecutive_failures: int = 0
    last_error: str | None = None
    last_attempt_ms: int | None = None
    last_failure_ms: int | None = None
    running: bool = False
    #: The last failure reached no server at all (no HTTP answer).
    unreachable: bool = False
    destinations: frozenset[str] = frozenset()

    def as_json(self, running: bool) -> dict[str, object]:
        return {
            "room_id": self.room_id,
            "join_time": self.join_time_ms,
            "joined_via": self.joined_via,
            "attempts": self.attempts,
            "consecutive_failures": self.consecutive_failures,
            "last_error": self.last_error,
            "last_attempt_time": self.last_attempt_ms,
            "last_failure_time": self.last_failure_ms,
            "next_attempt_time": None if running else self.next_attempt_ms,
            "resync_running": running,
        }
