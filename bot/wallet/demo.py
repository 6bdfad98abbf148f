"""Demo data: the contract's customers, their cards and saved recipients, and two months of history.

    demo-zhangsan  张三  ¥12,345.67  PIN 246810
    demo-lisi      李四     ¥500.00  PIN 135790
    demo-wangwu    王五       ¥0.00  PIN 112233

The history (supermarket, 电费, 话费, 外卖, top-ups, transfers in and out) is generated from a fixed
random seed, ends today, and is written as real balanced transfers through the ledger, so every
balance is the sum of its postings and ends exactly at the figure above. Seeding is idempotent: when
the demo customers exist, nothing changes.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from bot.wallet import security
from bot.wallet.models import BankCard, Customer, SavedRecipient, Wallet
from bot.wallet.services import SETTLEMENT_WALLET_NO, _add_customer, _now, _post, _request
from bot.wallet.uow import UnitOfWork

HISTORY_DAYS = 61
RANDOM_SEED = 20240601
SEED_TRANSFER_PREFIX = "seed-"


@dataclass(frozen=True)
class DemoPerson:
    key: str
    customer_id: str
    name: str
    phone: str
    id_number: str
    wallet_no: str
    pin: str | None = None
    balance_fen: int | None = None  # the contract figure; None for the people around them
    card: tuple[str, str] | None = None  # (bank, last 4)


PEOPLE = (
    DemoPerson("zhangsan", "demo-zhangsan", "张三", "13812345678", "110101199003071234", "6288010000001001",
               pin="246810", balance_fen=1_234_567, card=("工商银行", "6789")),
    DemoPerson("lisi", "demo-lisi", "李四", "13987654321", "310104199207152468", "6288010000002002",
               pin="135790", balance_fen=50_000, card=("建设银行", "4321")),
    DemoPerson("wangwu", "demo-wangwu", "王五", "13700001111", "440106198811203579", "6288010000003003",
               pin="112233", balance_fen=0, card=("农业银行", "8888")),
    DemoPerson("mom", "c-zhangguilan", "张桂兰", "13600002222", "110101196505083321", "6288010000004004"),
    DemoPerson("xiaoliu", "c-liuyang", "刘洋", "13500003333", "110105199406214455", "6288010000005005"),
    DemoPerson("dad", "c-lijianguo", "李建国", "13300004444", "310104196311026677", "6288010000006006"),
    DemoPerson("chenjing", "c-chenjing", "陈静", "13200005555", "440106199502148899", "6288010000007007"),
)

# (owner, recipient, alias the owner saved them under)
SAVED_RECIPIENTS = (
    ("zhangsan", "lisi", "李四"),
    ("zhangsan", "wangwu", "王五"),
    ("zhangsan", "mom", "妈妈"),
    ("zhangsan", "xiaoliu", "小刘"),
    ("lisi", "zhangsan", "张三"),
    ("lisi", "wangwu", "王五"),
    ("lisi", "dad", "爸爸"),
    ("wangwu", "zhangsan", "张三"),
    ("wangwu", "lisi", "李四"),
    ("wangwu", "chenjing", "陈静"),
)

# key → (wallet number, name shown as the counterparty)
MERCHANTS = {
    "crv": ("SYS-M-CRVANGUARD", "华润万家超市"),
    "yonghui": ("SYS-M-YONGHUI", "永辉超市"),
    "grid": ("SYS-M-STATEGRID", "国家电网"),
    "cmcc": ("SYS-M-CMCC", "中国移动"),
    "meituan": ("SYS-M-MEITUAN", "美团外卖"),
    "didi": ("SYS-M-DIDI", "滴滴出行"),
}
SETTLEMENT = "settlement"


@dataclass(frozen=True)
class Event:
    at: datetime
    source: str
    target: str
    amount_fen: int
    kind: str
    memo: str


def _at(day: date, hour: int, minute: int) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=security.BANK_TZ)


def _yuan(rng: random.Random, low: float, high: float) -> int:
    return rng.randint(int(low * 100), int(high * 100))


def _card_memo(person_key: str, action: str) -> str:
    bank, last4 = next(p.card for p in PEOPLE if p.key == person_key)
    return f"{bank}(尾号{last4}){action}"


def _history(today: date) -> list[Event]:
    """Everyday life, day by day; amounts from a fixed seed so every run tells the same story."""
    rng = random.Random(RANDOM_SEED)
    events: list[Event] = []

    def add(day, hour, minute, source, target, amount_fen, kind, memo):
        events.append(Event(_at(day, hour, minute), source, target, amount_fen, kind, memo))

    for days_ago in range(HISTORY_DAYS - 1, -1, -1):
        day = today - timedelta(days=days_ago)
        # 张三: lunch delivered most days, a supermarket run every few days, the monthly bills.
        if rng.random() < 0.6:
            add(day, 12, rng.randint(0, 40), "zhangsan", "meituan", _yuan(rng, 22, 58), "payment", "外卖订单")
        if days_ago % 4 == 1:
            shop = rng.choice(("crv", "yonghui"))
            add(day, 19, rng.randint(5, 55), "zhangsan", shop, _yuan(rng, 60, 420), "payment", "超市购物")
        if rng.random() < 0.15:
            add(day, 8, rng.randint(10, 50), "zhangsan", "didi", _yuan(rng, 14, 46), "payment", "打车")
        if day.day == 1:
            add(day, 9, 30, "zhangsan", "cmcc", 10_000, "payment", "话费充值")
        if day.day == 8:
            add(day, 20, 15, "zhangsan", "grid", _yuan(rng, 150, 320), "payment", "电费")
        if day.day == 10:
            add(day, 10, 5, SETTLEMENT, "zhangsan", 300_000, "topup", _card_memo("zhangsan", "充值"))
        if day.day == 15:
            add(day, 18, 30, "zhangsan", "mom", 200_000, "transfer", "生活费")
        if days_ago in (40, 12):
            add(day, 22, 10, "xiaoliu", "zhangsan", _yuan(rng, 80, 160), "transfer", "AA聚餐")

        # 李四: smaller amounts; a monthly allowance from 爸爸.
        if rng.random() < 0.4:
            add(day, 12, rng.randint(10, 50), "lisi", "meituan", _yuan(rng, 18, 38), "payment", "外卖订单")
        if days_ago % 7 == 3:
            add(day, 18, rng.randint(0, 50), "lisi", "yonghui", _yuan(rng, 40, 150), "payment", "超市购物")
        if day.day == 3:
            add(day, 9, 0, "lisi", "cmcc", 5_000, "payment", "话费充值")
        if day.day == 5:
            add(day, 10, 0, "dad", "lisi", 100_000, "transfer", "生活费")
        if day.day == 12:
            add(day, 21, 0, "lisi", "grid", _yuan(rng, 60, 140), "payment", "电费")

        # 王五: a quiet wallet; he borrows from 张三, pays a few bills, then empties it to his card.
        if days_ago % 9 == 4:
            add(day, 12, rng.randint(0, 50), "wangwu", "meituan", _yuan(rng, 20, 35), "payment", "外卖订单")
        if day.day == 2:
            add(day, 9, 15, "wangwu", "cmcc", 5_000, "payment", "话费充值")
        if days_ago in (45, 20):
            add(day, 20, 30, "wangwu", "crv", _yuan(rng, 50, 200), "payment", "超市购物")

    first, middle, recent = (today - timedelta(days=d) for d in (HISTORY_DAYS - 5, 30, 6))
    add(middle, 21, 40, "zhangsan", "lisi", 20_000, "transfer", "还钱")
    add(middle + timedelta(days=3), 13, 5, "lisi", "zhangsan", 8_800, "transfer", "奶茶钱")
    add(first, 19, 0, "zhangsan", "wangwu", 30_000, "transfer", "借你的")
    add(recent, 20, 0, "wangwu", "zhangsan", 30_000, "transfer", "还你的钱")
    add(recent - timedelta(days=2), 16, 20, "chenjing", "wangwu", 15_000, "transfer", "电影票")
    add(recent + timedelta(days=2), 11, 45, "wangwu", "chenjing", 6_600, "transfer", "午饭AA")
    add(today, 8, 20, "zhangsan", "meituan", 1_850, "payment", "早餐外卖")
    return events


def _balanced_plan(today: date, now: datetime) -> list[Event]:
    """History plus opening top-ups (and a closing withdrawal where needed) so that each contract
    balance comes out exactly, and no customer balance is ever negative along the way."""
    events = sorted((e for e in _history(today) if e.at <= now), key=lambda e: e.at)
    running: dict[str, int] = {}
    lowest: dict[str, int] = {}
    for event in events:
        for key, delta in ((event.source, -event.amount_fen), (event.target, event.amount_fen)):
            running[key] = running.get(key, 0) + delta
            lowest[key] = min(lowest.get(key, 0), running[key])

    opening_at = _at(today - timedelta(days=HISTORY_DAYS), 9, 0)
    closing_at = now - timedelta(minutes=1)
    openings: list[Event] = []
    closings: list[Event] = []
    for person in PEOPLE:
        net, low = running.get(person.key, 0), lowest.get(person.key, 0)
        if person.balance_fen is None:
            opening = -low + 500_000
        else:
            opening = person.balance_fen - net
            if opening < -low:
                # Spending outran the target: he moved the rest to his card today.
                closings.append(
                    Event(closing_at, person.key, SETTLEMENT, -low - opening, "withdrawal",
                          _card_memo(person.key, "提现"))
                )
                opening = -low
        if opening > 0:
            memo = _card_memo(person.key, "充值") if person.card else "银行卡充值"
            openings.append(Event(opening_at, SETTLEMENT, person.key, opening, "topup", memo))
    return openings + events + closings


def seed_demo(uow: UnitOfWork, *, now: datetime | None = None) -> bool:
    """Create the demo customers and their history. Returns False (and changes nothing) when present."""
    at = _now(now)
    try:
        with uow:
            session = uow.session
            if session.get(Customer, PEOPLE[0].customer_id) is not None:
                return False
            wallet_ids = _create_people(uow, at)
            for event_no, event in enumerate(_balanced_plan(at.astimezone(security.BANK_TZ).date(), at), start=1):
                request = _request(
                    f"{SEED_TRANSFER_PREFIX}{event_no:05d}",
                    wallet_ids[event.source],
                    wallet_ids[event.target],
                    event.amount_fen,
                    event.kind,
                    event.memo,
                )
                _post(uow, request, event.at, enforce_limits=False)
            uow.commit()
            return True
    except IntegrityError:
        # Someone else seeded at the same moment; theirs won.
        with uow:
            if uow.session.get(Customer, PEOPLE[0].customer_id) is not None:
                return False
        raise


def _create_people(uow: UnitOfWork, at: datetime) -> dict[str, int]:
    session = uow.session
    joined = at - timedelta(days=HISTORY_DAYS + 30)
    wallet_ids: dict[str, int] = {}
    for person in PEOPLE:
        wallet = _add_customer(
            uow,
            customer_id=person.customer_id,
            name=person.name,
            phone=person.phone,
            id_number=person.id_number,
            pin=person.pin,
            wallet_no=person.wallet_no,
            now=joined,
        )
        wallet_ids[person.key] = wallet.id
        if person.card:
            session.add(BankCard(customer_id=person.customer_id, bank=person.card[0], last4=person.card[1],
                                 card_type="debit", bound_at=joined))
    by_key = {p.key: p for p in PEOPLE}
    for owner, recipient, alias in SAVED_RECIPIENTS:
        session.add(SavedRecipient(customer_id=by_key[owner].customer_id, wallet_id=wallet_ids[recipient],
                                   alias=alias, created_at=joined))
    for key, (wallet_no, name) in MERCHANTS.items():
        merchant = session.scalars(select(Wallet).where(Wallet.wallet_no == wallet_no)).one_or_none()
        if merchant is None:
            merchant = Wallet(wallet_no=wallet_no, kind="merchant", customer_id=None, name=name, status="active",
                              balance_fen=0, pin_failures=0, created_at=joined)
            session.add(merchant)
            session.flush()
        wallet_ids[key] = merchant.id
    wallet_ids[SETTLEMENT] = session.scalars(select(Wallet.id).where(Wallet.wallet_no == SETTLEMENT_WALLET_NO)).one()
    session.flush()
    return wallet_ids
