"""``scripts-dev/demo``: homeservers with msc_extensions on loopback, ready to try.

- ``options``: the command line.
- ``ports``: the ports a mode uses; a busy one is named, with the process holding it.
- ``files``: a server's directory; the files an admin edits are written only once.
- ``servers``: Synapse processes in sessions of their own, waited for, stopped.
- ``users``: accounts through the shared secret.
- ``output``: the sections and commands printed.
- ``metrics``: the module's metric names, and the command that shows them.
- ``single`` and ``federation``: the two modes.
- ``partial_room`` and ``invite_room``: what ``federation`` prepares on A and B.
- ``switch``: the control that makes A unreachable from B, and brings it back.
- ``main``: runs a mode until Ctrl-C.
"""
