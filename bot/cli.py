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
    from bot.handoff.agents import seed_demo_agents

    seed_demo(SqlAlchemyUnitOfWork(get_session_factory()))
    seed_demo_agents(get_session_factory())
    print("演示数据已就绪：demo-zhangsan、demo-lisi、demo-wangwu；客服 agent1。")
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


def cmd_bind_code(args: argparse.Namespace) -> int:
    from bot.binding import BIND_CODE_TTL_S, Binder
    from bot.db import get_session_factory
    from bot.wallet import SqlAlchemyUnitOfWork, customer_exists

    settings = get_settings()
    if not customer_exists(SqlAlchemyUnitOfWork(get_session_factory()), args.customer):
        print(f"没有这个客户：{args.customer}（先运行 walletbot seed-demo？）", file=sys.stderr)
        return 2
    issued = Binder(get_session_factory(), settings.secret).issue_code(args.customer)
    print(issued.code)
    print(f"在 Telegram 或微信公众号中发送 /bind {issued.code} 完成绑定，{BIND_CODE_TTL_S // 60} 分钟内有效。", file=sys.stderr)
    return 0


def cmd_agent_add(args: argparse.Namespace) -> int:
    from bot.db import get_session_factory, upgrade_database
    from bot.handoff import AgentError, AgentExists, AgentInvalid
    from bot.handoff.agents import add_agent
    from bot.wallet import SqlAlchemyUnitOfWork

    if not args.password_stdin:
        print("请用 --password-stdin 从标准输入提供密码（不要写在命令行里）。", file=sys.stderr)
        return 2
    password = sys.stdin.readline().rstrip("\r\n")
    upgrade_database(get_settings().database_url)
    try:
        agent = add_agent(SqlAlchemyUnitOfWork(get_session_factory()), username=args.username, password=password, display_name=args.name, capacity=args.capacity)
    except AgentExists:
        print(f"客服账号已存在：{args.username}", file=sys.stderr)
        return 1
    except AgentInvalid as error:
        print(f"无法创建客服账号：{error.reason}", file=sys.stderr)
        return 2
    except AgentError as error:
        print(f"无法创建客服账号：{error}", file=sys.stderr)
        return 1
    print(f"已创建客服账号 {agent.username}（{agent.name}），接待上限 {agent.capacity} 位。")
    return 0


def cmd_chat(args: argparse.Namespace) -> int:
    from bot.terminal_chat import chat

    return chat(args.url or f"http://127.0.0.1:{get_settings().port}", token=args.token)


def cmd_scrub_trackers(args: argparse.Namespace) -> int:
    from bot.settings import VAR_DIR
    from bot.tracker_scrub import scrub_tracker_store, tracker_store_urls

    urls = list(args.store) or tracker_store_urls(get_settings().tracker_store_url, VAR_DIR)
    if not urls:
        print("没有找到 Rasa 的对话记录库（TRACKER_STORE_URL 未设置，var/ 下也没有 rasa-tracker-*.db）。")
        return 0
    for url in urls:
        report = scrub_tracker_store(url)
        print(f"{report.store}: 清除了 {report.conversations} 个会话中 {report.events_rewritten} 条事件里的密码/验证码。")
    return 0


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
    bind = sub.add_parser("bind-code", help="issue a one-time code that binds a Telegram/WeChat account")
    bind.add_argument("customer")
    bind.set_defaults(func=cmd_bind_code)
    outbox = sub.add_parser("sms-outbox", help="print the demo SMS outbox (one-time codes)")
    outbox.add_argument("--limit", type=int, default=10)
    outbox.set_defaults(func=cmd_sms_outbox)
    agent = sub.add_parser("agent", help="manage agent console accounts")
    agent_sub = agent.add_subparsers(dest="agent_command", required=True)
    agent_add = agent_sub.add_parser("add", help="create an agent (password read from stdin)")
    agent_add.add_argument("username")
    agent_add.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")
    agent_add.add_argument("--name", help="display name shown to customers (default: the username)")
    agent_add.add_argument("--capacity", type=int, default=3, help="conversations at a time (default 3)")
    agent_add.set_defaults(func=cmd_agent_add)
    scrub = sub.add_parser("scrub-trackers", help="replace PINs and SMS codes stored in Rasa's tracker store")
    scrub.add_argument("--store", action="append", default=[], metavar="URL",
                       help="a tracker store URL (repeatable; default TRACKER_STORE_URL, else var/rasa-tracker-*.db)")
    scrub.set_defaults(func=cmd_scrub_trackers)
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
