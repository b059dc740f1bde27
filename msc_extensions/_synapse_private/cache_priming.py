"""Private APIs for filling Synapse's own caches with rows read in bulk.

Persisting a chain of events makes Synapse read, event by event, a few rows about
each event's target through ``@cached`` store methods. Where no ``@cachedList``
reads them for many users at once, a batch reads them in one query and puts them
into the same cache first, so that Synapse's reads find them there; what is put in
is exactly what the method itself would return for the same rows.

What this file relies on:

1. ``DeferredCache`` (the ``.cache`` of a ``@cached`` store method):
   ``get_bulk(keys)``, which says which keys are neither cached nor being read,
   and ``start_bulk_input(keys)``, whose ``CacheMultipleEntries`` is completed
   with ``complete_bulk(cache, results)`` or failed with
   ``error_bulk(cache, keys, failure)``. This is how ``@cachedList`` fills the
   cache of its ``@cached`` method: an invalidation of a key while its row is
   being read drops that key's result, so a row read before a concurrent change
   is never cached after it.
"""

from collections.abc import Awaitable, Callable, Collection, Hashable, Mapping
from typing import Any, Generic, TypeVar

from twisted.python.failure import Failure

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class CachePriming(Generic[K, V]):
    """Fills the cache of one ``@cached`` store method from reads in bulk."""

    def __init__(
        self,
        cached_method: Any,
        read: Callable[[Collection[K]], Awaitable[Mapping[K, V]]],
        absent: V,
    ) -> None:
        """``read(keys)`` returns, for the keys it finds, what ``cached_method``
        returns for them; ``absent`` is what it returns for the others."""
        self._cache = cached_method.cache
        self._read = read
        self._absent = absent

    async def prime(self, keys: Collection[K]) -> None:
        """(1) Read the keys that are neither cached nor being read, in one go,
        into the cache."""
        _, _, missing = self._cache.get_bulk(list(dict.fromkeys(keys)))
        if not missing:
            return
        entry = self._cache.start_bulk_input(missing)
        try:
            found = await self._read(missing)
        except Exception:
            failure = Failure()  # type: ignore[no-untyped-call]
            entry.error_bulk(self._cache, missing, failure)
            raise
        entry.complete_bulk(
            self._cache, {key: found.get(key, self._absent) for key in missing}
        )
