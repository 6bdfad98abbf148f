"""Every fact an FAQ answer states comes from the seed article or from our own settings (issue 9, point 12).

The audit lives in `knowledge/faq_facts.yml`: for each entry, the facts its answer states, the words
that carry each fact, and its source (an article sentence, a settings placeholder, or the code that
does what the answer says we do). These tests hold the knowledge base to that audit, and keep out
the specifics that were once invented (working days, ages, face scans, menu paths, hotline pages).
"""

from __future__ import annotations

import importlib
import re
from functools import lru_cache

import pytest
import yaml

from bot.knowledge import PLACEHOLDERS, KnowledgeBase, get_knowledge_base, placeholder_values, placeholders_in
from bot.knowledge.base import HUMAN_OFFER
from bot.settings import ROOT, get_settings

ARTICLE_FILE = ROOT / "knowledge" / "seed_article.txt"
SHARED_ARTICLE_FILE = ROOT.parent / "shared" / "seed" / "icbc_digital_wallet_article.txt"
FACTS_FILE = ROOT / "knowledge" / "faq_facts.yml"
SOURCES = ("article", "setting", "service")

# Specifics that neither the article nor our settings give; none may appear in any answer.
INVENTED = [
    "工作日", "1-3个", "1-2个", "年满18周岁", "周岁", "人脸识别", "刷脸", "几分钟", "人工复核", "人工审核",
    "短信通知", "网银", "我的-客服", "我的－客服", "“我的", "客服热线", "号码见", "热线", "95588", "110",
    "次日", "00:00", "实时到账", "一般实时", "原路", "自动退回", "6位", "六位", "首页", "设置里", "安全设置", "确认页",
    "忘记支付密码”", "修改支付密码”", "注销钱包”", "添加银行卡”", "解除绑定”", "“银行卡”", "“活动”", "“优惠”",
    "“账单”", "“交易记录”", "“充值”", "“提现”", "不支持信用卡", "只支持", "有权机关", "风控", "换领",
    "为您转接", "正在转接", "现在就为您转", "马上为您转",
]
# A digit count of days, hours, minutes or years written into an answer instead of a setting.
INVENTED_DURATION = re.compile(r"\d+\s*(?:个)?(?:工作日|小时|分钟|周岁|岁|天)")
# List numbering ("1. ") is the only place a template may write a digit: every figure is a placeholder.
LIST_NUMBER = re.compile(r"^\d+\.\s", re.MULTILINE)
# What an answer may put in quotes besides the article's own quoted names: things to say to the
# assistant, and our channels' commands.
ALLOWED_QUOTES = {"查一下上个月的账单", "给李四转五百块", "解绑"}
# Saying what is not known is always followed by the offer of a person.
ADMITS_NOT_KNOWING = ("没有确切", "没有实时", "没有逐一", "没法直接判断", "查不到", "没有准确")


@lru_cache(maxsize=1)
def article() -> str:
    return ARTICLE_FILE.read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def audit() -> dict[str, list[dict]]:
    return yaml.safe_load(FACTS_FILE.read_text(encoding="utf-8"))["entries"]


def kb() -> KnowledgeBase:
    return get_knowledge_base()


def all_facts() -> list[tuple[str, dict]]:
    return [(entry_id, fact) for entry_id, facts in audit().items() for fact in facts]


def facts_from(source: str) -> list[tuple[str, dict]]:
    return [(entry_id, fact) for entry_id, fact in all_facts() if source in fact]


def fact_id(param: object) -> str | None:
    return param if isinstance(param, str) else None


# -- the audit covers the knowledge base -----------------------------------------------------------


@pytest.mark.skipif(not SHARED_ARTICLE_FILE.exists(), reason="the shared seed folder is not beside this clone")
def test_the_vendored_article_is_the_seed_article():
    assert ARTICLE_FILE.read_bytes() == SHARED_ARTICLE_FILE.read_bytes()


def test_every_entry_is_listed_in_the_audit():
    ids = {entry.id for entry in kb().entries}
    assert sorted(ids - set(audit())) == [], "entries missing from knowledge/faq_facts.yml"
    assert sorted(set(audit()) - ids) == [], "faq_facts.yml lists entries the knowledge base does not have"


def test_every_entry_states_at_least_one_audited_fact():
    assert [entry_id for entry_id, facts in audit().items() if not facts] == []


@pytest.mark.parametrize("entry_id, fact", all_facts(), ids=fact_id)
def test_each_fact_has_words_and_exactly_one_source(entry_id, fact):
    assert [source for source in SOURCES if source in fact] in ([source] for source in SOURCES), fact
    assert fact.get("words") and all(isinstance(word, str) and word for word in fact["words"]), fact


# -- each source is real ---------------------------------------------------------------------------


@pytest.mark.parametrize("entry_id, fact", facts_from("article"), ids=fact_id)
def test_a_quoted_support_sentence_is_really_in_the_article(entry_id, fact):
    assert fact["article"] in article(), f"{entry_id}: not a verbatim substring of the article: {fact['article']!r}"


@pytest.mark.parametrize("entry_id, fact", facts_from("setting"), ids=fact_id)
def test_a_settings_fact_is_templated_and_rendered_from_the_settings(entry_id, fact):
    name = fact["setting"]
    assert name in PLACEHOLDERS, f"{entry_id}: unknown setting placeholder {name!r}"
    entry = kb().get(entry_id)
    assert name in placeholders_in(entry.template), f"{entry_id}: the template does not use {{{name}}}"
    assert placeholder_values(get_settings())[name] in entry.answer


@pytest.mark.parametrize("entry_id, fact", facts_from("service"), ids=fact_id)
def test_a_service_fact_names_code_that_exists(entry_id, fact):
    target, names = None, fact["service"].split(".")
    # The longest importable prefix is the module; the rest are attributes of it.
    for cut in range(len(names), 0, -1):
        try:
            target = importlib.import_module(".".join(names[:cut]))
        except ImportError:
            continue
        for name in names[cut:]:
            target = getattr(target, name)
        break
    assert callable(target), f"{entry_id}: {fact['service']} does not resolve to code"


@pytest.mark.parametrize("entry_id, fact", all_facts(), ids=fact_id)
def test_each_facts_key_words_appear_in_the_answer(entry_id, fact):
    answer = kb().get(entry_id).answer
    missing = [word for word in fact["words"] if word not in answer]
    assert not missing, f"{entry_id}: {fact['fact']!r} is audited but {missing} are not in the answer"


# -- nothing invented ------------------------------------------------------------------------------


@pytest.mark.parametrize("entry_id", [entry.id for entry in get_knowledge_base().entries])
def test_no_answer_states_an_invented_specific(entry_id):
    entry = kb().get(entry_id)
    found = [phrase for phrase in INVENTED if phrase in entry.answer or phrase in entry.template]
    assert not found, f"{entry_id} states {found}"
    assert not INVENTED_DURATION.search(entry.template), f"{entry_id} writes a duration into the answer"


@pytest.mark.parametrize("entry_id", [entry.id for entry in get_knowledge_base().entries])
def test_every_figure_in_an_answer_comes_from_a_placeholder(entry_id):
    template = LIST_NUMBER.sub("", kb().get(entry_id).template)
    assert not re.search(r"[0-9０-９¥￥]", template), f"{entry_id} hard-codes a figure: {template!r}"


@pytest.mark.parametrize("entry_id", [entry.id for entry in get_knowledge_base().entries])
def test_quoted_names_are_the_articles_or_things_to_say_to_the_assistant(entry_id):
    quoted = re.findall(r"“([^”]*)”", kb().get(entry_id).answer)
    unknown = [q for q in quoted if f"“{q}”" not in article() and q not in ALLOWED_QUOTES]
    assert not unknown, f"{entry_id} quotes names the article does not give (menu paths?): {unknown}"


@pytest.mark.parametrize("entry_id", [entry.id for entry in get_knowledge_base().entries])
def test_an_answer_that_does_not_know_offers_a_person(entry_id):
    entry = kb().get(entry_id)
    if any(words in entry.answer for words in ADMITS_NOT_KNOWING):
        assert entry.offers_human, f"{entry_id} says it does not know but offers no person"


def test_the_denylist_catches_the_claims_it_was_written_for():
    """The audit's own check, on the sentences the knowledge base used to say."""
    old = [
        "通常会在1-3个工作日内自动原路退回",
        "一般在1-2个工作日内完成，结果会在App里提示，并短信通知您",
        "年满18周岁、持有本人有效中国居民身份证",
        "必要时按提示完成人脸识别",
        "开通一共六步，几分钟就能办好",
        "如果转入人工复核",
        "也可以通过本行网银或柜台办理",
        "拨打本行客服热线（号码见App“我的-客服”页）",
    ]
    for sentence in old:
        assert any(phrase in sentence for phrase in INVENTED) or INVENTED_DURATION.search(sentence), sentence
