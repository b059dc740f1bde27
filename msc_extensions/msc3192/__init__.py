"""MSC3192: many state events in one request (``batch_state``).

See docs/msc3192.md for the semantics this implementation settles.
"""
