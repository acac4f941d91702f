"""The bigram tokens of Chinese text (pure, no database)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ucis.knowledge import ngrams


def test_cjk_runs_become_overlapping_bigrams():
    assert ngrams.tokens("计划停水通知") == ["计划", "划停", "停水", "水通", "通知"]


def test_a_lone_character_stays_a_unigram_and_latin_words_stay_whole():
    assert ngrams.tokens("水") == ["水"]
    assert ngrams.tokens("IC卡充值") == ["ic", "卡充", "充值"]
    assert ngrams.tokens("拨打95598报修") == ["拨打", "95598", "报修"]


def test_punctuation_full_width_included_separates_runs():
    assert ngrams.tokens("停水了，怎么办？") == ["停水", "水了", "怎么", "么办"]
    assert ngrams.tokens("缴费、发票。账单！") == ["缴费", "发票", "账单"]
    assert ngrams.tokens("“微信”（支付宝）") == ["微信", "支付", "付宝"]


def test_nfkc_and_lower_case():
    assert ngrams.tokens("ＡＢＣ１２３") == ["abc123"]
    assert ngrams.token_string("WeChat 缴费") == "wechat 缴费"


def test_empty_and_punctuation_only_text_has_no_tokens():
    assert ngrams.tokens("") == []
    assert ngrams.tokens("？！。，、 ...") == []
    assert ngrams.parse_query("？？").empty


def test_query_drops_question_words_from_the_fallback_and_prefixes_a_trailing_character():
    q = ngrams.parse_query("停水了怎么办")
    assert q.all_terms == ("停水", "水了", "了怎", "怎么", "么办")
    assert q.any_terms == ("停水",)
    assert ngrams.parse_query("计划停").all_terms == ("计划", "划停")  # 划停 is in 计划停水 already
    assert ngrams.parse_query("停").all_terms == ("停:*",)
    assert ngrams.parse_query("IC").all_terms == ("ic:*",)
    assert ngrams.parse_query("怎么").any_terms == ("怎么",)  # nothing else: keep it


def test_highlight_escapes_html_and_marks_matches():
    assert ngrams.highlight("<b>停水</b>通知", ["停水"]) == "&lt;b&gt;<mark>停水</mark>&lt;/b&gt;通知"
    assert ngrams.highlight("计划停水", ["划停", "停水"]) == "计<mark>划停水</mark>"
    assert ngrams.highlight("WeChat缴费", ["wechat"]) == "<mark>WeChat</mark>缴费"


def test_highlight_excerpt_is_cut_around_the_first_match():
    text = "前" * 200 + "停水" + "后" * 200
    out = ngrams.highlight(text, ["停水"], width=40)
    assert out.startswith("…") and out.endswith("…") and "<mark>停水</mark>" in out
    assert len(out.replace("<mark>", "").replace("</mark>", "")) == 42


CJK = st.characters(min_codepoint=0x4E00, max_codepoint=0x4E30)
OTHER = st.sampled_from(list("ab Z19，。？！、,.-_（）《》 \n"))


def _oracle(text: str) -> list[str]:
    """The CJK tokens expected: each pair of neighbouring CJK characters, each isolated one alone."""
    t = ngrams.normalise(text)
    out = []
    for i, ch in enumerate(t):
        if not ngrams.is_cjk(ch):
            continue
        left = i > 0 and ngrams.is_cjk(t[i - 1])
        right = i + 1 < len(t) and ngrams.is_cjk(t[i + 1])
        if right:
            out.append(ch + t[i + 1])
        elif not left:
            out.append(ch)
    return out


@given(st.text(alphabet=st.one_of(CJK, OTHER), max_size=40))
def test_the_cjk_tokens_of_any_text_are_the_bigrams_of_its_cjk_characters(text):
    toks = ngrams.tokens(text)
    assert [t for t in toks if ngrams.is_cjk(t[0])] == _oracle(text)
    for tok in toks:
        assert tok and " " not in tok
        assert all(ngrams.is_cjk(c) for c in tok) or not any(ngrams.is_cjk(c) for c in tok)
    assert ngrams.tokens(ngrams.token_string(text)) == toks  # the stored string re-tokenises to itself


@given(st.text(max_size=60))
def test_tokens_never_hold_punctuation_or_upper_case(text):
    for tok in ngrams.tokens(text):
        assert all(c.isalnum() or ngrams.is_cjk(c) for c in tok)
    html = ngrams.highlight(text, ngrams.tokens(text))
    assert "<" not in html.replace("<mark>", "").replace("</mark>", "")
