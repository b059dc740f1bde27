"""The admin guide's routing table names every path the module serves, with its
methods, and nothing it does not serve.

The routes are read from the resources Synapse builds for the client, admin and
federation listeners of a homeserver with every feature on: each route whose
servlet is one of the module's. For each, a path that the route serves is made
from its pattern, and exactly the table's rows whose regular expression matches
that path must name its method.
"""

import inspect
import re
from collections.abc import Iterator

from synapse.http.server import JsonResource

from tests.integration.harness import ModuleTestCase
from tests.unit.doc_blocks import ADMIN_GUIDE

_ROW = re.compile(
    r"^\| (?P<paths>`\^[^|]*?(?:\\\|[^|]*?)*`) \| (?P<methods>[A-Z, ]+) \|"
)
_CODE = re.compile(r"`((?:[^`])+)`")
#: A named group of a route's pattern, and what stands for it in a sample path.
_GROUP = re.compile(r"\(\?P<\w+>\[\^/\][*+]\)")


def guide_routes() -> list[tuple[re.Pattern[str], frozenset[str]]]:
    """The routing table's rows: each regular expression with the row's methods."""
    rows = []
    for line in ADMIN_GUIDE.read_text(encoding="utf-8").splitlines():
        row = _ROW.match(line)
        if row is None:
            continue
        methods = frozenset(m.strip() for m in row["methods"].split(","))
        for path in _CODE.findall(row["paths"]):
            rows.append((re.compile(path.replace(r"\|", "|")), methods))
    return rows


def sample_path(pattern: re.Pattern[str]) -> str:
    """A path the route serves: each path parameter is ``x``."""
    text = _GROUP.sub("x", pattern.pattern).removeprefix("^").removesuffix("$")
    text = text.removesuffix("/?")
    return re.sub(r"\\(.)", r"\1", text)


def module_routes(resource: JsonResource) -> Iterator[tuple[str, str]]:
    """(sample path, method) of each route of ``resource`` served by the module."""
    for pattern, entries in resource._routes.items():
        for method, entry in entries.items():
            served_by = getattr(inspect.unwrap(entry.callback), "__self__", None)
            if type(served_by).__module__.startswith("msc_extensions."):
                yield sample_path(pattern), method.decode()


class GuideRoutingTableTestCase(ModuleTestCase):
    def test_every_path_the_module_serves_is_in_the_table(self) -> None:
        table = guide_routes()
        self.assertGreaterEqual(len(table), 15)
        served = {
            route
            for resource in self.create_resource_dict().values()
            if isinstance(resource, JsonResource)
            for route in module_routes(resource)
        }
        # Every feature's routes were found.
        for expected in (
            ("/_matrix/client/versions", "GET"),
            (
                "/_matrix/client/unstable/org.matrix.msc3192/rooms/x/batch_state/x",
                "PUT",
            ),
            ("/_matrix/federation/v1/state/x", "GET"),
            ("/_matrix/federation/unstable/org.matrix.msc4046/send_pdu/x", "PUT"),
            ("/_matrix/federation/v1/hierarchy/x", "GET"),
            ("/_synapse/admin/v1/msc_extensions/partial_state_rooms/x", "DELETE"),
            ("/_synapse/admin/v1/msc_extensions/rooms/x/recover", "POST"),
        ):
            self.assertIn(expected, served)
        used = set()
        for path, method in sorted(served):
            rows = [i for i, (regex, _) in enumerate(table) if regex.match(path)]
            self.assertTrue(rows, f"{method} {path} is not in the guide's table")
            self.assertTrue(
                any(method in table[i][1] for i in rows),
                f"{method} {path}: the table's rows for it name other methods",
            )
            used.update(rows)
        # And the table names nothing the module does not serve.
        self.assertEqual(
            [table[i][0].pattern for i in range(len(table)) if i not in used], []
        )
