from pathlib import Path

import pytest

from retriever.text.clean import clean, is_junk_line, remove_inline_junk

CORPUS = Path(__file__).resolve().parent.parent / "corpus"

# One case per kind of junk, worded as other sites word it, not copied from corpus/.
INLINE = [
    ("paywall percent", "乡村治理要久久为功。此处省略60%,请登录会员,阅读正文所有内容。", "乡村治理要久久为功。"),
    ("paywall broken line", '基层要稳。""""此处省略25%,请\n登录会员,阅读正文所有内容。', "基层要稳。"),
    (
        "paywall bracket",
        "要抓实抓细。……(某某文秘网省略1203字,正式会员可完整阅读)……\n下面讲第二点。",
        "要抓实抓细。\n下面讲第二点。",
    ),
    ("truncation", "压担子、给机会 ……(未完,全文共5000字,当前仅显示2000字,请阅读下面提示信息。", "压担子、给机会……"),
    ("trial end", "工作要落实。\n......试读结束......\n", "工作要落实。"),
    ("url", "详见https://www.example.com/a/123.html通知。", "详见通知。"),
    ("bare domain", "访问某某网abc.example.cn了解详情。", "访问某某网了解详情。"),
    ("email", "请发送邮件至 12345@qq.com 反映。", "请发送邮件至 反映。"),
    ("bookmark", "全文完。收藏《关于加强基层治理的意见》", "全文完。"),
    ("site hint", "详见某某网(可搜索其他更多资料)。", "详见某某网。"),
    ("blurb", "以下是小编为您整理的“某某讲话”相关范文,供您参考!同志们好。", "同志们好。"),
    ("quote run", "内容结束。''''''", "内容结束。"),
]


@pytest.mark.parametrize("kind,raw,expected", INLINE, ids=[c[0] for c in INLINE])
def test_inline_junk_is_removed(kind, raw, expected):
    assert clean(raw) == expected


JUNK_LINES = [
    "上一篇:在全县经济工作会议上的讲话",
    "下一篇:返回列表",
    "推荐阅读",
    "精选图文",
    "领取福利",
    "微信扫码领取福利",
    "微信扫码分享",
    "查看全文加微信123456",
    "admin 分享 时间:2024-01-01 加入收藏 共计3000个字,预计阅读时长10分钟",
    "某某文库◆记住我,常来看看~",
    "本文内容由互联网用户自发贡献,该文观点仅代表作者本人。本站仅提供信息存储空间服务,不拥有所有权,不承担相关法律责任。",
    "如若转载,请注明出处",
    "88231",
    "- 3 -",
    "。",
    "某某写作网",
]


@pytest.mark.parametrize("line", JUNK_LINES)
def test_junk_lines(line):
    assert is_junk_line(remove_inline_junk(line).strip())
    assert clean("会议听取了工作报告。\n" + line) == "会议听取了工作报告。"


CONTENT_LINES = [
    "据或在搜索时被发现其走私（用搜索票）」。",
    "该作品在游戏与动画相关商品销售网站Getchu.com的2007年1月销量榜上位列第一,此后又多次进入各类榜单的前十名,"
    "并被改编为动画、漫画与广播剧,在同类作品中销量长期领先,是当年最受关注的作品之一。",
    "一、坚持党建引领,推动基层治理",
    "要畅通群众举报渠道,及时回应群众关切。",
    "通过微信公众号发布政务信息,为群众点赞。",
    "2023年全镇完成投资1.5亿元。",
    "同志们,今年的任务很重。",
    "谢谢大家!",
    "(三)完善矛盾纠纷化解机制",
]


@pytest.mark.parametrize("line", CONTENT_LINES)
def test_content_lines_are_kept(line):
    assert not is_junk_line(line)
    assert clean(line) == line


def test_broken_lines_are_rejoined():
    text = "今天,我们齐聚一堂开展培训,既是一次思想的“充电补钙”,更是一场工作的“战前\n动员”。乡镇是治理的最后一公里。\n一、铸牢政治之魂\n正文。"
    assert (
        clean(text)
        == "今天,我们齐聚一堂开展培训,既是一次思想的“充电补钙”,更是一场工作的“战前动员”。乡镇是治理的最后一公里。\n一、铸牢政治之魂\n正文。"
    )


def test_lines_of_a_text_that_ends_no_sentence_with_a_stop_stay_lines():
    # Minutes typed a decision a line: long lines with commas are whole, not broken.
    minutes = (
        "会议认为，老旧小区改造是重大民生工程，关系群众切身利益，必须坚持群众自愿、因地制宜\n"
        "会议同意该计划，2024年计划改造小区23个，涉及居民4120户，总投资约1.8亿元\n县政府办公室"
    )
    assert clean(minutes) == minutes
    # With one stop anywhere, such a line was broken by the site and is joined.
    assert clean(minutes + "\n会议结束。").startswith(
        "会议认为，老旧小区改造是重大民生工程，关系群众切身利益，必须坚持群众自愿、因地制宜会议同意"
    )


def test_titles_and_headings_are_not_joined():
    text = "在全市干部培训班上的发言\n一、铸牢政治之魂\n二是以谋定向服务发展大局\n正文。"
    assert clean(text) == text


def test_text_on_both_sides_of_a_paywall_gap_is_not_joined():
    text = "只有把政治根基扎\n……(某网省略877字,正式会员可完整阅读)……\n街头巷尾,才能听到群众的心里话。"
    assert clean(text) == "只有把政治根基扎……\n街头巷尾,才能听到群众的心里话。"


def test_repeated_title_and_blank_lines():
    assert clean("标题\n\n标题\n\n\n正文第一段。\n\n正文第二段。") == "标题\n正文第一段。\n正文第二段。"


def test_whitespace_and_invisible_characters():
    assert clean("\ufeff  第一\u200b段。\r\n\t第二段\u00a0内容。\x07") == "第一段。\n第二段 内容。"


def test_markdown():
    md = "# 标题\n\n**加粗**与[链接](http://x.cn)。\n\n![图](a.png)\n\n## 一、小节\n\n> 引文。"
    assert clean(md, markdown=True) == "# 标题\n加粗与链接。\n## 一、小节\n引文。"
    # Targets with parentheses of their own, and titles, leave nothing behind.
    md = '见[维基百科](https://zh.wikipedia.org/wiki/Foo_(bar))条目,![图](a_(1).png "标题")及[此处](http://x.cn "说明")。'
    assert clean(md, markdown=True) == "见维基百科条目,及此处。"


@pytest.mark.parametrize("path", sorted(CORPUS.glob("*.txt")), ids=lambda p: p.name)
def test_cleaning_the_seeds_is_idempotent(path):
    once = clean(path.read_text(encoding="utf-8"))
    assert clean(once) == once


def test_repost_notices_go_with_the_generated_blurb_on_their_line():
    text = (
        "关于做好防汛工作的讲话\n"
        "防汛工作关系群众安全,要压实责任、加强值守。以下是小编为大家整理的“关于做好防汛工作的讲话”相关范文,欢迎阅读!\n"
        "同志们,今年汛期形势严峻,各级要立足防大汛、抗大灾。"
    )
    assert clean(text) == "关于做好防汛工作的讲话\n同志们,今年汛期形势严峻,各级要立足防大汛、抗大灾。"


def test_a_title_printed_again_with_a_placeholder_goes():
    text = "在全县安全生产会议上的讲话\n在〔...〕县安全生产会议上的讲话\n今年以来,全县安全生产形势总体平稳。"
    assert clean(text) == "在全县安全生产会议上的讲话\n今年以来,全县安全生产形势总体平稳。"
    # A different line that merely starts alike stays.
    other = "在全县安全生产会议上的讲话\n在全县范围内开展安全生产大检查,消除隐患。"
    assert clean(other) == other


@pytest.mark.parametrize(
    "salutation", ["同志们:", "各位代表：", "尊敬的各位领导、同志们:", "各位委员、同志们：", "尊敬的各位領導、來賓們："]
)
def test_a_salutation_on_its_own_line_goes(salutation):
    assert clean(f"{salutation}\n现在,我代表县政府作工作报告。") == "现在,我代表县政府作工作报告。"
    # Within a sentence it stays.
    assert clean("同志们,今年的任务很重。") == "同志们,今年的任务很重。"


def test_digits_padded_with_spaces_are_joined():
    # A converter's padding of full-width digits, across a broken line too.
    text = "本届政府从1 9 9 3 年3 月就职。国内生产总值达到7\n4 7 7 2 亿元，平均每年增长1 1 ％，去年增长8 ．8 ％。"
    assert clean(text) == "本届政府从1993年3月就职。国内生产总值达到74772亿元，平均每年增长11％，去年增长8．8％。"
    # Numbers apart, spacing around numbers and Latin text stay.
    for kept in ("数据为 2019 2020 2021 三年。", "2023 年 3 月 5 日召开。", "共 3 个项目。", "version 1 2 3 here"):
        assert clean(kept) == kept


def test_licence_templates_of_wiki_sources_go():
    text = (
        "会议听取了工作报告。\n"
        "本作品来自某国家机关的决定。依据《著作权法》第五条，本作品不适用于该法，所以属于公有领域。\n"
        "本模板所指的决定包括由主席令公布的决定。"
    )
    assert clean(text) == "会议听取了工作报告。"


def test_a_disclaimer_in_a_text_without_line_breaks_costs_its_sentence_not_the_text():
    body = "各地要抓好基层治理工作，" * 40  # 480 characters on one line
    text = body + "本站仅提供信息存储空间服务，不拥有所有权。" + body.rstrip("，") + "。"
    # The sentence runs from the line's start (no full stop before it) to its 。: at most
    # 200 characters before the notice go, and the notice's own sentence.
    assert clean(text) == body[: len(body) - 200] + body.rstrip("，") + "。"
    # Without any full stop or line break, 200 characters either side of the notice go
    # (it is matched as 转载请注明, at 2,000).
    bare = "基层治理" * 500 + "转载请注明出处" + "基层治理" * 500
    assert clean(bare) == bare[:1800] + bare[2205:]


def test_a_word_or_number_broken_across_lines_is_joined():
    # A page break of the source split a word (改/革) or a number from its unit, with a
    # blank line between the halves; a name, a signature or a heading stays on its own.
    assert clean("要全面深化各领域改\n\n革，加快推进基础性改革。") == "要全面深化各领域改革，加快推进基础性改革。"
    assert clean("国内生产总值达到74.4\n\n万亿元，增长6.7%。") == "国内生产总值达到74.4万亿元，增长6.7%。"
    assert clean("国务院总理　李克强\n\n现在，我代表国务院向大会报告。") == "国务院总理　李克强\n现在，我代表国务院向大会报告。"
    assert clean("一、过去五年工作回顾\n\n五年来，我们砥砺奋进。") == "一、过去五年工作回顾\n五年来，我们砥砺奋进。"
    # A word jieba only guesses at across the break (「表为」) is none: a title stays a line.
    title = "2024年全县重点工作任务分工表"
    assert clean(f"{title}\n为确保各项任务落到实处，现将分工明确如下。") == f"{title}\n为确保各项任务落到实处，现将分工明确如下。"
