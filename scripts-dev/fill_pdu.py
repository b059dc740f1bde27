#!/usr/bin/env python3
"""Fills in an MSC4046 template: what a client does between make_pdu and send_pdu.

    curl .../make_pdu/m.room.member?membership=leave | fill_pdu.py CONTENT | curl -X PUT --data-binary @- .../send_pdu/TXN

Reads make_pdu's answer (``{"room_version": ..., "pdu": {...}}``) on stdin and
writes the PDU with CONTENT (a JSON object) as its ``content`` on stdout, ready for
send_pdu, which adds the hashes and the server's signature. An answer without a
template (a Matrix error, say) is printed on stderr, and the exit code is 1.
"""

import argparse
import json
import sys


def main() -> int:
    parser = argparse.ArgumentParser(
        description="The PDU of an MSC4046 make_pdu answer (stdin), with content."
    )
    parser.add_argument("content", help="the content, a JSON object: '{\"a\": 1}'")
    args = parser.parse_args()
    content = json.loads(args.content)
    if not isinstance(content, dict):
        parser.error("the content must be a JSON object")
    answer = sys.stdin.read()
    try:
        template = json.loads(answer)["pdu"]
    except (ValueError, KeyError, TypeError):
        print(f"make_pdu gave no template: {answer.strip()}", file=sys.stderr)
        return 1
    json.dump({**template, "content": content}, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
