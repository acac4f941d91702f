"""The demo's knowledge base (知识库): the questions the hotline of 临江 hears every day, with the
answers agents read out — the group's (payment, bills, transfers) and each company's (outages,
ladder prices, meters, gas safety). Most are published; some are public (the portal's FAQ); a few
are drafts or retired, as in a real knowledge base."""

from __future__ import annotations

from typing import Any

from ucis.demo.cityplan import GROUP_CODE
from ucis.knowledge import selectors as knowledge_selectors
from ucis.knowledge import services as knowledge_services
from ucis.org import selectors as org_selectors
from ucis.platform.tenancy import SYSTEM

CATEGORIES = (
    ("pay", "缴费方式", 10), ("outage", "停水停电停气", 20), ("ladder", "阶梯价格", 30),
    ("meter", "抄表与水表", 40), ("gas_safety", "燃气安全", 50), ("service", "报装过户", 60),
    ("invoice", "发票与账单", 70),
)

PUBLISHED, DRAFT, RETIRED = "published", "draft", "retired"

# (owner, category, commodity, public, status, question, answer, tags)
ARTICLES: tuple[tuple[str, str, str, bool, str, str, str, tuple[str, ...]], ...] = (
    ("LJ", "pay", "", True, PUBLISHED, "可以通过哪些方式缴纳水费、电费和燃气费？",
     "您可以选择以下任一方式缴费：\n\n1. 微信：关注“临江公用事业”公众号或使用微信支付“生活缴费”，输入户号即可缴费。\n2. 支付宝：在“生活缴费”中选择临江水务、临江供电或临江燃气。\n3. 银行代扣：携带身份证和银行卡到营业厅或开户银行签订代扣协议，每月自动扣款。\n4. 营业厅柜台：各分公司营业厅及服务站均可现金、银行卡缴费，可跨网点办理。\n5. 自助缴费终端：营业厅和部分社区设有自助终端，支持扫码缴费。\n\n缴费时请核对户名和户号，户号印在缴费通知单右上角。",
     ("缴费", "微信", "支付宝", "代扣")),
    ("LJ", "pay", "", True, PUBLISHED, "如何办理银行代扣？",
     "请户主携带本人身份证、户号和本人名下的银行卡，到任一营业厅或合作银行网点签订《委托银行代收费协议》。\n\n协议签订后，从下一个账期开始自动从银行卡扣款，扣款前会以短信提醒。扣款失败（如余额不足）时，账单转为待缴，请通过其他方式及时缴费，以免产生违约金。",
     ("代扣", "银行卡")),
    ("LJ", "pay", "", True, PUBLISHED, "微信或支付宝缴费后多久到账？",
     "微信、支付宝缴费一般实时到账，缴费成功后即可在公众号“我的账单”中看到。\n\n如遇系统对账，最迟次日到账。缴费成功但账单仍显示未缴的，请保留支付凭证（交易单号）并拨打95598，我们会为您核实处理，不会重复收费。",
     ("到账", "微信", "支付宝")),
    ("LJ", "pay", "", False, PUBLISHED, "缴费时提示户号不存在怎么办？",
     "请先核对户号：户号为缴费通知单或发票上的“户号”，不是表号，也不是客户编号。\n\n若户号无误仍提示不存在，可能是刚办理过户或新装尚未生效，请客户提供户名和地址，在系统中按地址查询后告知正确户号；仍无法查到的，转营业厅核实。",
     ("户号",)),
    ("LJ", "pay", "", True, PUBLISHED, "逾期未缴费会产生违约金吗？",
     "会。账单有缴费截止日期，逾期未缴的，自截止日次日起按日计收违约金，具体比例按所属公司规定执行。\n\n低保户等特殊群体可按政策申请减免，请携带相关证明到营业厅办理。因银行代扣失败等非本人原因造成逾期的，可申请核减违约金。",
     ("违约金", "欠费")),
    ("LJ", "pay", "", False, PUBLISHED, "多缴的费用会退还吗？",
     "多缴的费用作为预存款保留在您的账户中，出账后自动抵扣下期费用，不会丢失。\n\n如需退还（例如销户），请户主携带身份证到营业厅申请，经审核后退回原付款账户或指定银行卡。",
     ("预存", "退费")),
    ("LJ", "invoice", "", True, PUBLISHED, "如何开具电子发票？",
     "缴费成功后，可在公众号“我的账单—开具发票”中填写抬头和税号，电子发票将发送到您的手机或邮箱。\n\n单位客户需开具增值税专用发票的，请携带营业执照复印件到营业厅办理。",
     ("发票", "电子发票")),
    ("LJ", "invoice", "", False, PUBLISHED, "账单上的金额是怎么计算的？",
     "账单金额 = 本期用量 × 对应价格（居民按阶梯价格分档计算）+ 代收费用（如污水处理费、垃圾处理费、水资源费）− 减免金额。\n\n本期用量 = 本次抄表读数 − 上次抄表读数。账单的每一行都列出了用量、单价和金额，可逐项向客户解释。",
     ("账单", "金额")),
    ("LJ", "invoice", "", True, PUBLISHED, "为什么这个月的账单比上个月高很多？",
     "常见原因有：\n\n1. 季节原因用量增加（夏季用水用电、冬季用气增加）。\n2. 本期抄表天数比上期多。\n3. 年度累计用量进入更高的阶梯价格档位。\n4. 上期为估抄，本期按实际读数补计了差额。\n5. 室内管道或用电设备可能存在漏水、漏电。\n\n如怀疑读数有误，可申请复核或校验表计。",
     ("账单", "用量", "估抄")),
    ("LJ", "invoice", "", False, PUBLISHED, "纸质缴费通知单丢了怎么办？",
     "缴费不需要通知单，凭户号即可缴费。户号可在公众号绑定后查看，或凭户名和地址在营业厅查询。需要补打通知单的，可在营业厅办理。",
     ("通知单", "户号")),
    ("LJ", "service", "", True, PUBLISHED, "房屋买卖后如何办理过户？",
     "房屋产权变更后，请买卖双方（或新户主）到营业厅办理过户，一次可同时办理水、电、气三项业务。\n\n过户前需结清原户主的全部欠费。办理完成后，新户主的账单从下一个账期开始生效。",
     ("过户", "更名")),
    ("LJ", "service", "", True, PUBLISHED, "过户需要携带哪些材料？",
     "1. 新户主身份证原件；\n2. 房屋产权证明（不动产权证或购房合同）；\n3. 原户号或最近一期账单；\n4. 委托他人办理的，还需委托书和受托人身份证。\n\n单位客户另需营业执照复印件并加盖公章。",
     ("过户", "材料")),
    ("LJ", "service", "", False, PUBLISHED, "如何查询业务办理进度？",
     "可拨打95598，提供业务受理单号或户号查询；也可在公众号“我的业务”中查看各环节状态。",
     ("进度", "查询")),
    ("LJW", "outage", "water", True, PUBLISHED, "计划停水通知在哪里查看？",
     "计划停水会提前24小时发布：\n\n1. 临江水务公众号“停水公告”栏目；\n2. 受影响小区的公告栏；\n3. 登记了手机号的用户会收到短信提醒。\n\n也可以拨打95598，告知小区名称查询近期停水安排。",
     ("停水", "公告")),
    ("LJW", "outage", "water", True, PUBLISHED, "突然停水了怎么办？",
     "请先确认是否只是您家停水：询问邻居或查看楼道公告。\n\n如果整栋楼或小区停水，可能是管网抢修，请关注公众号停水公告或拨打95598查询恢复时间。\n\n如果只有您家停水，请检查表前阀门是否关闭、是否因欠费停水（IC卡表请查看余量）；仍无法解决的，请报修。",
     ("停水", "抢修", "报修")),
    ("LJW", "outage", "water", True, PUBLISHED, "恢复供水后水发黄正常吗？",
     "停水检修后管道内的沉积物可能使水暂时发黄，打开水龙头放水几分钟即可恢复清澈。放水超过10分钟仍浑浊的，请拨打95598，我们会安排人员上门检测水质。",
     ("水质", "停水")),
    ("LJW", "ladder", "water", True, PUBLISHED, "居民阶梯水价是怎么计算的？",
     "居民用水按年度累计用量分三档计价：\n\n第一档：每户每年0至180立方米（含）；\n第二档：181至260立方米；\n第三档：260立方米以上。\n\n用量在哪一档就按该档价格计算，账单上分档列出。每户人口超过4人的，可申请增加阶梯基数。",
     ("阶梯水价", "水价")),
    ("LJW", "ladder", "water", False, PUBLISHED, "家庭人口多可以申请增加阶梯水量吗？",
     "可以。户籍人口超过4人的家庭，每增加1人，每年各档基数增加45立方米。请携带户口簿和身份证到营业厅申请，审核通过后从下一个账期开始执行。",
     ("阶梯水价", "人口")),
    ("LJW", "meter", "water", True, PUBLISHED, "水表多久抄一次？",
     "居民水表一般每月抄表一次，具体日期以所在抄表区为准。智能远传水表自动上传读数，无需入户。\n\n抄表员入户时会出示工作证；如连续多月无法入户，将按历史用量估算，待实际抄表后多退少补。",
     ("抄表", "水表")),
    ("LJW", "meter", "water", False, PUBLISHED, "怀疑水表走得快怎么办？",
     "请先关闭家中所有用水设备，观察水表指针是否仍在转动：仍在转动的，可能是室内管道或马桶漏水。\n\n确认无漏水仍有疑问的，可申请水表校验。校验合格的收取校验费；不合格的免费更换水表，并按规定退补水费。",
     ("水表", "校验", "漏水")),
    ("LJW", "meter", "water", True, PUBLISHED, "水表被冻坏了怎么处理？",
     "冬季请用保温材料包裹室外水表和管道。水表已冻坏漏水的，请先关闭表前阀门，然后拨打95598报修，维修人员会上门更换。因用户保管不善造成的损坏，需按规定承担水表费用。",
     ("水表", "冻坏", "报修")),
    ("LJW", "meter", "water", False, PUBLISHED, "家里没人用水，水表也在转是什么原因？",
     "多数是室内漏水，常见于马桶水箱、热水器和暗管。可关闭马桶进水阀后再观察水表；仍在转动的，建议请物业或专业人员检查暗管。",
     ("水表", "漏水")),
    ("LJW", "service", "water", False, PUBLISHED, "新房如何申请用水报装？",
     "新建住宅一般由开发商统一报装，交房时已通水，业主只需办理开户。自建房或单位用水需申请报装：提交申请表、产权证明和用水平面图，经现场勘查、设计、施工、验收后通水。",
     ("报装", "开户")),
    ("LJW", "invoice", "water", False, PUBLISHED, "水费账单里的污水处理费是什么？",
     "污水处理费是按用水量代政府收取的费用，用于城市污水处理，不属于水费收入。账单中单独列示，金额 = 用水量 × 污水处理费单价。",
     ("污水处理费", "代收")),
    ("LJE", "outage", "electricity", True, PUBLISHED, "如何查询计划停电信息？",
     "计划停电至少提前7天通过临江供电公众号、短信和社区公告发布，内容包括停电时间和范围。您也可以拨打95598输入户号查询。",
     ("停电", "公告")),
    ("LJE", "outage", "electricity", True, PUBLISHED, "家里突然停电了怎么办？",
     "请先查看家中空气开关和漏电保护器是否跳闸；如邻居家也停电，可能是线路故障，请拨打95598报修。\n\n请勿自行打开电表箱或触碰断落的电线。预付费电表请确认余额是否为零。",
     ("停电", "跳闸", "报修")),
    ("LJE", "ladder", "electricity", True, PUBLISHED, "居民阶梯电价分几档？",
     "居民阶梯电价按年度用电量分三档：第一档每户每年2760千瓦时以内，第二档2761至4800千瓦时，第三档4800千瓦时以上，电价逐档递增。账单中分档列示用量和电费。",
     ("阶梯电价", "电价")),
    ("LJE", "ladder", "electricity", True, PUBLISHED, "峰谷电价怎么申请？",
     "已安装智能电表的居民用户可申请峰谷分时电价：峰时段8:00至22:00，谷时段22:00至次日8:00，谷时段电价更低。请通过公众号或营业厅申请，次月生效，一年内不可变更。",
     ("峰谷电价", "分时")),
    ("LJE", "meter", "electricity", False, PUBLISHED, "智能电表还需要人工抄表吗？",
     "不需要。智能电表通过用电信息采集系统自动抄表，每天上传读数。采集失败时才会安排人员现场补抄。",
     ("智能电表", "抄表")),
    ("LJE", "meter", "electricity", False, DRAFT, "电表显示屏上的读数怎么看？",
     "智能电表屏幕轮流显示多项数据，“正向有功总电能”即累计用电量，单位千瓦时。峰谷用户还会分别显示峰、谷电量。",
     ("电表", "读数")),
    ("LJE", "service", "electricity", False, PUBLISHED, "如何申请增加用电容量？",
     "增容请携带身份证、产权证明到营业厅申请，填写增容申请表。供电公司现场勘查后答复供电方案，按方案施工验收后送电。居民增容一般5个工作日内办结。",
     ("增容", "报装")),
    ("LJE", "pay", "electricity", False, PUBLISHED, "预付费电表余额不足怎么办？",
     "余额低于预警值时会短信提醒，请及时通过微信、支付宝或营业厅充值。余额用完后将自动断电，充值后一般几分钟内自动复电。",
     ("预付费", "充值", "断电")),
    ("LJG", "gas_safety", "gas", True, PUBLISHED, "闻到燃气泄漏的味道怎么办？",
     "1. 立即关闭燃气表前阀门；\n2. 打开门窗通风；\n3. 严禁开关电器、使用明火和拨打手机（请到室外安全处）；\n4. 到室外拨打燃气抢修电话或95598。\n\n抢修人员24小时值班，接报后立即出发。",
     ("燃气泄漏", "抢修", "安全")),
    ("LJG", "gas_safety", "gas", True, PUBLISHED, "燃气软管多久需要更换？",
     "普通橡胶软管建议每18个月更换一次，金属波纹管使用寿命更长。软管出现老化、龟裂、变硬时应立即更换。软管长度不超过2米，不得穿墙、穿门窗。",
     ("软管", "安全")),
    ("LJG", "gas_safety", "gas", True, PUBLISHED, "燃气报警器响了怎么处理？",
     "报警器报警说明室内可能有燃气泄漏：请立即关闭阀门、开窗通风、不要开关电器，到室外拨打抢修电话。确认无泄漏后再复位报警器。",
     ("报警器", "安全")),
    ("LJG", "gas_safety", "gas", False, PUBLISHED, "长期外出需要关闭燃气阀门吗？",
     "需要。外出超过一天时请关闭燃气表前阀门，回家后先开窗通风再打开阀门使用。",
     ("阀门", "安全")),
    ("LJG", "outage", "gas", True, PUBLISHED, "计划停气期间需要注意什么？",
     "停气前请关闭灶具和热水器开关。恢复供气后，请先打开门窗，再点火使用；如点不着火，可能是管道内有空气，稍等片刻重试。如闻到异味，请按燃气泄漏处理。",
     ("停气", "安全")),
    ("LJG", "ladder", "gas", False, PUBLISHED, "居民阶梯气价如何计算？",
     "居民用气按年度用气量分档：第一档每户每年0至350立方米，第二档351至500立方米，第三档500立方米以上。采暖季另有规定的，以公告为准。",
     ("阶梯气价", "气价")),
    ("LJG", "meter", "gas", True, PUBLISHED, "IC卡燃气表如何充值？",
     "可到营业厅或自助终端购气，购气后将IC卡插入燃气表，表上显示购气量即充值成功。写卡失败的，请带卡到营业厅处理，不会重复扣费。",
     ("IC卡", "充值", "购气")),
    ("LJG", "meter", "gas", False, RETIRED, "IC卡燃气表提示余量不足怎么办？（旧版）",
     "请尽快购气。本条已由“IC卡燃气表如何充值？”取代。",
     ("IC卡",)),
    ("LJG", "service", "gas", False, PUBLISHED, "燃气开户需要办理哪些手续？",
     "请携带身份证和房屋产权证明到营业厅申请开户，预约安检通气。通气前工作人员会上门检查管道和灶具，并讲解安全用气知识。",
     ("开户", "通气")),
)


def demo_knowledge() -> dict[str, Any]:
    """Categories of the group and ~40 articles of the group and the three companies (once)."""
    if knowledge_selectors.category_list(SYSTEM).exists():
        return {"knowledge_articles": 0}
    owners = {code: org_selectors.org_node_by_code(actor=SYSTEM, code=code)
              for code in {GROUP_CODE, *(a[0] for a in ARTICLES)}}
    group = owners[GROUP_CODE]
    categories = {code: knowledge_services.category_create(actor=SYSTEM, code=code, name=name, sort_order=order,
                                                           node_id=group.pk)
                  for code, name, order in CATEGORIES}
    for owner, category, commodity, public, status, title, answer, tags in ARTICLES:
        article = knowledge_services.article_create(
            actor=SYSTEM, node_id=owners[GROUP_CODE if owner == "LJ" else owner].pk,
            data=knowledge_services.ArticleInput(title=title, answer=answer, category_id=categories[category].pk,
                                                 tags=tags, commodity=commodity, public=public))
        if status != DRAFT:
            knowledge_services.article_publish(actor=SYSTEM, article_id=article.pk)
        if status == RETIRED:
            knowledge_services.article_retire(actor=SYSTEM, article_id=article.pk)
    return {"knowledge_articles": len(ARTICLES)}
