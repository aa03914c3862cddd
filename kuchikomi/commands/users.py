"""`kuchikomi users add|list|remove|password`: who may sign in to the web workspace, and with which role."""
from __future__ import annotations

import argparse
import getpass
import sys

from kuchikomi.commands import connect_elasticsearch, fail, load_monitor, table


def add_parser(sub, default_config: str):
    users = sub.add_parser("users", help="web workspace users: add, list, remove, password")
    with_config = argparse.ArgumentParser(add_help=False)
    with_config.add_argument("--config", "-c", default=default_config, help="monitor config (YAML)")
    with_password = argparse.ArgumentParser(add_help=False)
    with_password.add_argument("--password-stdin", action="store_true",
                               help="read the password from the first line of standard input")
    users_sub = users.add_subparsers(dest="action", required=True)
    add = users_sub.add_parser("add", parents=[with_config, with_password], help="add a user")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=["viewer", "analyst", "admin"],
                     help="viewers read; analysts also correct, triage and handle alerts; admins also manage users")
    users_sub.add_parser("list", parents=[with_config], help="the users and their roles")
    remove = users_sub.add_parser("remove", parents=[with_config], help="remove a user (their sessions end)")
    remove.add_argument("name")
    password = users_sub.add_parser("password", parents=[with_config, with_password],
                                    help="set a user's password (their sessions end)")
    password.add_argument("name")
    return users


def run(args) -> None:
    from web.indices import workspace_index
    from web.teamwork import Audit
    from web.users import UserError, Users
    monitor = load_monitor(args.config)
    client = connect_elasticsearch(monitor.elasticsearch, write=False)
    users = Users(client, workspace_index(monitor.elasticsearch, "users"))
    if args.action == "list":
        print(table(["name", "role", "created_at"], users.list()))
        return
    try:
        if args.action == "add":
            user = users.add(args.name, args.role, _password(args.password_stdin))
            print(f"added {user['name']} ({user['role']})")
        elif args.action == "remove":
            users.remove(args.name)
            print(f"removed {args.name}")
        else:
            users.set_password(args.name, _password(args.password_stdin))
            print(f"password of {args.name} set; their sessions have ended")
    except UserError as exc:
        fail(str(exc))
    # The workspace's audit trail holds user changes made here too, by whoever ran the command.
    action = {"add": "add_user", "remove": "remove_user", "password": "set_password"}[args.action]
    Audit(client, workspace_index(monitor.elasticsearch, "audit")).record(
        f"cli:{getpass.getuser()}", action, f"user:{args.name}", {"role": args.role} if args.action == "add" else {})


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        fail("no terminal to ask for the password on: pipe it in with --password-stdin")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        fail("the two passwords differ")
    return first
