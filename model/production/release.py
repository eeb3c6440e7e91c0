"""`python -m model store|promote|rollback|retire|models`: the operator's model commands.

`store add DIR` checks an artifact and keeps it in the model store under its version;
`promote VERSION` announces it on scoring.models (live by default, or as the shadow or
the canary with its share); `rollback` goes back to the live version before the current
one; `retire shadow|canary` ends that role; `models` shows the store and what each role
serves. The cluster is KAFKA_BOOTSTRAP_SERVERS, else the project's local broker; topics
carry SCORER_TOPIC_PREFIX, as in the worker.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from model.mlp.artifact import ArtifactError
from model.production import kafka_io, lifecycle
from model.production.store import DEFAULT, ModelStore
from schemas.codec import Codec

COMMANDS = ("store", "promote", "rollback", "retire", "models")


def share(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"{value} is not a share in (0, 1]")
    return value


def add_parsers(commands: Any) -> None:
    default_store = Path(os.environ.get("SCORER_MODEL_STORE", DEFAULT))

    def with_store(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
        parser.add_argument(
            "--store",
            type=Path,
            default=default_store,
            help=f"model store (default $SCORER_MODEL_STORE or {DEFAULT})",
        )
        return parser

    store = commands.add_parser("store", help="the model store: add an artifact, list versions")
    sub = store.add_subparsers(dest="store_command", required=True)
    add = with_store(sub.add_parser("add", help="check an artifact and keep it under its version"))
    add.add_argument("artifact", type=Path, help="artifact folder (python -m model train --out)")
    with_store(sub.add_parser("list", help="the versions in the store"))
    promote = with_store(commands.add_parser("promote", help="announce a version in a role"))
    promote.add_argument("version", help="a version in the model store")
    promote.add_argument("--role", choices=lifecycle.ROLES, default="live")
    promote.add_argument(
        "--share",
        type=share,
        default=None,
        help="canary: share of sessions it serves (default 0.1); shadow: "
        "share it also scores (default 1)",
    )
    promote.add_argument("--by", help="who announces it (default: your user name)")
    rollback = commands.add_parser("rollback", help="back to the live version before this one")
    rollback.add_argument("--by", help="who announces it (default: your user name)")
    retire = commands.add_parser("retire", help="end the shadow or the canary")
    retire.add_argument("role", choices=lifecycle.ROLES[1:])
    retire.add_argument("--by", help="who announces it (default: your user name)")
    with_store(commands.add_parser("models", help="the store's versions and their roles"))


def run(args: argparse.Namespace) -> int:
    if args.command == "store":
        store = ModelStore(args.store)
        if args.store_command == "add":
            print(f"Kept {store.add(args.artifact)} in {store.root}")
            return 0
        return _list(store, {})
    codec = Codec()
    bootstrap, topic = kafka_io.models_topic()
    current = kafka_io.read_announcements(bootstrap, topic, codec)
    if args.command == "models":
        return _list(ModelStore(args.store), current)
    if args.command == "promote":
        store = ModelStore(args.store)
        store.load(args.version)  # refused here when missing or corrupt
        default = {"live": 1.0, "shadow": 1.0, "canary": 0.1}[args.role]
        made = lifecycle.announcement(
            args.role,
            args.version,
            default if args.share is None else args.share,
            current,
            args.by,
            sound=lambda v: _sound(store, v),
        )
    elif args.command == "rollback":
        made = lifecycle.rollback(current, args.by)
    else:
        made = lifecycle.announcement(args.role, None, 1.0, current, args.by)
    kafka_io.publish_announcement(bootstrap, topic, codec, made)
    what = made.version or "nothing (retired)"
    shared = made.role != "live" and made.version
    share_note = f" for {made.share:.0%} of sessions" if shared else ""
    print(f"{made.role}: {what}{share_note} (was {made.previous or 'nothing'}), on {topic}")
    return 0


def _sound(store: ModelStore, version: str) -> bool:
    try:
        store.load(version)
    except ArtifactError:
        return False
    return True


def _list(store: ModelStore, current: dict[str, lifecycle.Announcement]) -> int:
    entries = store.entries()
    if not entries:
        print(f"The store {store.root} holds no model yet: python -m model store add DIR")
    for entry in entries:
        roles = [
            role if role == "live" else f"{role} {a.share:.0%}"
            for role, a in sorted(current.items())
            if a.version == entry.version
        ]
        print(f"{entry.version}  {entry.created_at or '(unreadable)':25}  {', '.join(roles)}")
    return 0
