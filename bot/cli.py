"""The `walletbot` command (see README for every subcommand)."""

from __future__ import annotations

import argparse
import subprocess
import sys

from bot.settings import ROOT, get_settings


def cmd_run(args: argparse.Namespace) -> int:
    from bot.runner import serve

    return serve(get_settings())


def cmd_train(args: argparse.Namespace) -> int:
    return subprocess.call(["make", "-C", str(ROOT), "train"])


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from bot.db import upgrade_database

    upgrade_database(get_settings().database_url)
    print("数据库已是最新结构。")
    return 0


def cmd_seed_demo(args: argparse.Namespace) -> int:
    from bot.db import get_session_factory, upgrade_database
    from bot.wallet import SqlAlchemyUnitOfWork, seed_demo

    upgrade_database(get_settings().database_url)
    seed_demo(SqlAlchemyUnitOfWork(get_session_factory()))
    print("演示数据已就绪：demo-zhangsan、demo-lisi、demo-wangwu。")
    return 0


def cmd_token(args: argparse.Namespace) -> int:
    from bot.db import get_session_factory
    from bot.identity import issue_app_token
    from bot.wallet import SqlAlchemyUnitOfWork, customer_exists

    settings = get_settings()
    if not customer_exists(SqlAlchemyUnitOfWork(get_session_factory()), args.customer):
        print(f"没有这个客户：{args.customer}（先运行 walletbot seed-demo？）", file=sys.stderr)
        return 2
    print(issue_app_token(settings.secret, args.customer, ttl_s=args.ttl_hours * 3600))
    return 0


def cmd_sms_outbox(args: argparse.Namespace) -> int:
    from bot.db import get_session_factory
    from bot.wallet import SqlAlchemyUnitOfWork, sms_outbox

    messages = sms_outbox(SqlAlchemyUnitOfWork(get_session_factory()), limit=args.limit)
    if not messages:
        print("短信发件箱是空的。")
    for message in messages:
        print(f"{message.created_at:%Y-%m-%d %H:%M:%S}  {message.phone}  {message.text}")
    return 0


def cmd_chat(args: argparse.Namespace) -> int:
    from bot.terminal_chat import chat

    return chat(args.url or f"http://127.0.0.1:{get_settings().port}", token=args.token)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="walletbot", description="钱包智能客服 walletbot")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="start gateway, Rasa and the action server").set_defaults(func=cmd_run)
    sub.add_parser("train", help="train the Rasa model when data or config changed").set_defaults(func=cmd_train)
    sub.add_parser("db-upgrade", help="apply database migrations").set_defaults(func=cmd_db_upgrade)
    sub.add_parser("seed-demo", help="create the demo customers (idempotent)").set_defaults(func=cmd_seed_demo)
    token = sub.add_parser("token", help="print a web chat token for a customer")
    token.add_argument("customer")
    token.add_argument("--ttl-hours", type=int, default=24)
    token.set_defaults(func=cmd_token)
    outbox = sub.add_parser("sms-outbox", help="print the demo SMS outbox (one-time codes)")
    outbox.add_argument("--limit", type=int, default=10)
    outbox.set_defaults(func=cmd_sms_outbox)
    chat = sub.add_parser("chat", help="chat with the bot in the terminal")
    chat.add_argument("--token", help="a customer token from `walletbot token`; anonymous without")
    chat.add_argument("--url", help="gateway URL (default http://127.0.0.1:$WALLETBOT_PORT)")
    chat.set_defaults(func=cmd_chat)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
