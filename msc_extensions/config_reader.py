"""The one place that turns bad configuration values into ``ConfigError``.

Every configuration class reads its section through a :class:`SectionReader`, which
knows the key path of the section (``("msc3902",)``, say) so that each error names the
full path of the offending key, for example ``msc3902.resync_interval``. Synapse adds
the ``modules.<N>.config`` prefix when it reports the error.
"""

from collections.abc import Collection, Mapping
from typing import Any

from synapse.module_api.errors import ConfigError

from msc_extensions._synapse_private.resources import parse_synapse_duration


class SectionReader:
    """Reads typed values out of one mapping in the module's configuration.

    Each ``read_*`` call marks its key as known; :meth:`finish` then rejects every key
    that no call asked for, so a typo is an error rather than a silently ignored
    setting.
    """

    def __init__(self, raw: object, path: tuple[str, ...] = ()) -> None:
        if raw is None:
            raw = {}
        if not isinstance(raw, Mapping):
            raise ConfigError(
                f"expected a mapping, got {type(raw).__name__}", path or None
            )
        self._raw: Mapping[Any, Any] = raw
        self._path = path
        self._known: set[str] = set()

    def path_of(self, key: str) -> tuple[str, ...]:
        return (*self._path, key)

    def error(self, key: str, message: str) -> ConfigError:
        return ConfigError(message, self.path_of(key))

    def _get(self, key: str) -> Any:
        self._known.add(key)
        return self._raw.get(key)

    def read_bool(self, key: str, default: bool) -> bool:
        value = self._get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self.error(key, f"expected true or false, got {value!r}")
        return value

    def read_int(
        self,
        key: str,
        default: int,
        *,
        minimum: int | None = None,
        maximum: int | None = None,
    ) -> int:
        value = self._get(key)
        if value is None:
            return default
        if type(value) is not int:
            raise self.error(key, f"expected an integer, got {value!r}")
        self._check_bounds(key, value, minimum, maximum)
        return value

    def read_float(
        self, key: str, default: float, *, minimum: float | None = None
    ) -> float:
        value = self._get(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(key, f"expected a number, got {value!r}")
        self._check_bounds(key, value, minimum, None)
        return float(value)

    def read_duration_ms(
        self, key: str, default_ms: int, *, minimum_ms: int = 1
    ) -> int:
        """A duration in Synapse's forms: an integer of milliseconds or "30s", "5m",
        "1h", "2d", "1w", "1y"."""
        value = self._get(key)
        if value is None:
            return default_ms
        try:
            duration_ms = parse_synapse_duration(value)
        except (TypeError, ValueError):
            raise self.error(
                key,
                f"expected a duration such as 30s, 5m, 1h or an integer of "
                f"milliseconds, got {value!r}",
            ) from None
        self._check_bounds(key, duration_ms, minimum_ms, None, unit=" ms")
        return duration_ms

    def read_choice(self, key: str, default: str, choices: Collection[str]) -> str:
        value = self._get(key)
        if value is None:
            return default
        if value not in choices:
            allowed = ", ".join(sorted(choices))
            raise self.error(key, f"expected one of {allowed}, got {value!r}")
        assert isinstance(value, str)
        return value

    def section(self, key: str) -> "SectionReader":
        return SectionReader(self._get(key), self.path_of(key))

    def finish(self) -> None:
        """Reject keys that no ``read_*`` or ``section`` call asked for."""
        for key in self._raw:
            if key not in self._known:
                raise ConfigError(
                    "unknown key; known keys are " + ", ".join(sorted(self._known)),
                    self.path_of(str(key)),
                )

    def _check_bounds(
        self,
        key: str,
        value: float,
        minimum: float | None,
        maximum: float | None,
        unit: str = "",
    ) -> None:
        if minimum is not None and value < minimum:
            raise self.error(key, f"must be at least {minimum}{unit}, got {value}")
        if maximum is not None and value > maximum:
            raise self.error(key, f"must be at most {maximum}{unit}, got {value}")
