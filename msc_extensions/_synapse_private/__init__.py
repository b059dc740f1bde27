"""Every use of Synapse's private APIs, in one package.

``ModuleApi`` is the supported surface for modules; it cannot do all this module
needs. Whatever else of Synapse the module touches is imported or called only from
the modules of this package: internal classes, handlers and storage reached through
``HomeServer.get_*()``, underscore attributes, and monkeypatches. Each module here
lists what it relies on and why, and offers the rest of the code a small adapter, so
that a Synapse upgrade that moves something breaks here, loudly, and nowhere else.
The adapters do what Synapse does and decide nothing for a feature: the modules of
this package import nothing from the rest of ``msc_extensions``.

- :mod:`.resources`: serving servlets from Synapse's own resource trees, the
  HomeServer behind ``ModuleApi``, Synapse's duration syntax, version checks.
- Sending state events (MSC3192), one job a module: :mod:`.requesters` (the
  requester type, the admin check, suspension, shadow-ban event IDs), :mod:`.transactions`
  (Synapse's transaction cache, whose transaction a request is, and the tables a
  remembered transaction refers to; used by every endpoint with a transaction
  ID), :mod:`.ratelimiting` (Synapse's rate limiter),
  :mod:`.room_reads` (what a room is), :mod:`.room_locks` (Synapse's per-room
  locks of event creation), :mod:`.spam_checks` (spam checkers and the policy
  server), :mod:`.event_creation` (events built against an in-memory state map),
  :mod:`.batch_persistence` (such a chain persisted at once),
  :mod:`.single_sends` (the one-event paths of ``PUT /state``), and for
  membership events in a batch :mod:`.invite_checks` (invite rate limits,
  server notices, ``user_may_invite``, invite rules), :mod:`.member_profiles`
  (profile fields, read in bulk), :mod:`.membership_effects` (what follows a
  member leaving) and :mod:`.cache_priming` (Synapse's own caches filled from
  reads in bulk), and for invites of users on other servers
  :mod:`.remote_invites` (their servers' signatures, asked for before the chain
  is persisted and not again when it is) with :mod:`.bounded_calls` (several
  requests at once, each with a bounded wait).
- :mod:`.partial_state_store`: reads of partial-state rooms that do not wait for
  full state (MSC3895, MSC3902).
- :mod:`.resync`: Synapse's resync of partial-state rooms, and hooks to observe and
  cancel it and to hear of servers coming back (MSC3902).
- :mod:`.destinations`: Synapse's retry back-off and delivery records of other
  servers, and probing one past that back-off (MSC3902).
- :mod:`.federation_answers`: Synapse's own answers on the federation endpoints
  the module takes over (MSC3895).
- :mod:`.error_responses`: rewriting the error code of a resource's answers
  (MSC3895).
- :mod:`.room_removal`: local users leaving a room, and purging it (MSC3902).
- PDUs built by clients (MSC4046): :mod:`.pdu_building` (templates, room versions,
  the auth events and depth this server would choose), :mod:`.pdu_acceptance`
  (hashes, signatures, context, soft-fail, third-party rules, persisting as a
  local event, on another server's behalf, or out of band),
  :mod:`.federation_requests` (signed requests to other servers, several at once)
  and :mod:`.message_ratelimits` (``rc_message``, as ``/send`` takes it).
- :mod:`.current_state`: reading and serving a room's current state, its cache,
  rate limit and off-reactor encoding (MSC2314).
- :mod:`.pdu_checks`: asking other servers for state, and Synapse's checks of
  what they answer (MSC2314).
- :mod:`.room_rejoin`: storing a recovered room as a join stores it (MSC2314).

Outside this package the module uses only what Synapse offers modules and servlet
authors: ``synapse.module_api``, ``synapse.api.errors``, ``synapse.api.constants``,
``synapse.http.servlet``, ``synapse.http.site`` and ``synapse.types``.
"""
