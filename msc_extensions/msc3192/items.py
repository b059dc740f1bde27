"""What a batch is made of: the items a client asks for and what became of each."""

import attr
from synapse.api.constants import EventTypes
from synapse.api.errors import SynapseError
from synapse.types import JsonDict


@attr.s(frozen=True, slots=True, auto_attribs=True)
class BatchItem:
    """One state event the client asks for, at ``index`` in the request."""

    index: int
    event_type: str
    state_key: str
    content: JsonDict

    @property
    def is_membership(self) -> bool:
        return self.event_type == EventTypes.Member

    def event_dict(self, room_id: str, sender: str) -> JsonDict:
        return {
            "type": self.event_type,
            "state_key": self.state_key,
            "content": dict(self.content),
            "room_id": room_id,
            "sender": sender,
        }


@attr.s(frozen=True, slots=True, auto_attribs=True)
class ItemResult:
    """The event ID an item produced (new, or the existing one it equals), or the
    error that kept it from producing one: exactly one of the two."""

    event_id: str | None
    error: SynapseError | None

    def __attrs_post_init__(self) -> None:
        if (self.event_id is None) == (self.error is None):
            raise ValueError("An item result has either an event ID or an error")

    @classmethod
    def sent(cls, event_id: str) -> "ItemResult":
        return cls(event_id=event_id, error=None)

    @classmethod
    def failed(cls, error: SynapseError) -> "ItemResult":
        return cls(event_id=None, error=error)
