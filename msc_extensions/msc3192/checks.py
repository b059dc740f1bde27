"""The check every item passes before anything else, as in ``PUT /state``."""

from msc_extensions._synapse_private.requesters import Requester
from msc_extensions._synapse_private.spam_checks import SpamChecks
from msc_extensions.msc3192.items import BatchItem


async def check_may_send_state(
    spam: SpamChecks,
    requester: Requester,
    room_id: str,
    item: BatchItem,
    is_admin: bool,
) -> None:
    """The ``user_may_send_state_event`` spam check, which ``PUT /state`` runs
    first for every state event, membership included; server admins are exempt
    there, and here.

    Raises:
        SynapseError: 403 when a spam checker refuses the item.
    """
    if is_admin:
        return
    await spam.check_may_send_state_event(
        requester.user.to_string(),
        room_id,
        item.event_type,
        item.state_key,
        item.content,
    )
