"""The workspace's page text in English and Chinese, and times in the bank's time zone.

>>> Texts("zh-CN")("inbox")
'待办'
>>> Texts("en").value("status", "pending_approval")
'pending approval'
>>> from datetime import UTC, datetime
>>> local_time(datetime(2026, 3, 3, 14, 27, tzinfo=UTC), "Asia/Shanghai", "zh-CN")
'2026年3月3日 星期二 22:27'
"""

from __future__ import annotations

import re
from datetime import datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

from monitor.alerts import Language
from monitor.i18n import WEEKDAYS_ZH

__all__ = ["LANGUAGES", "Texts", "local_time"]

LANGUAGES: tuple[Language, ...] = ("en", "zh-CN")

# key -> (English, Chinese)
_TEXT: dict[str, tuple[str, str]] = {
    "app": ("riskmon workspace", "riskmon 风险工作台"),
    "inbox": ("Inbox", "待办"),
    "register": ("Risk events", "风险事件台账"),
    "approvals": ("Awaiting approval", "待复核"),
    "sign_in": ("Sign in", "登录"),
    "sign_out": ("Sign out", "退出"),
    "user": ("User name", "用户名"),
    "password": ("Password", "密码"),
    "bad_login": ("Wrong user name or password.", "用户名或密码错误。"),
    "locked": (
        "Too many wrong passwords: try again in 15 minutes.",
        "密码错误次数过多，请 15 分钟后再试。",
    ),
    "signed_in_as": ("Signed in as", "当前用户"),
    "language": ("中文", "English"),
    "filters": ("Filters", "筛选"),
    "apply": ("Apply", "应用"),
    "clear": ("Clear", "清除"),
    "search": ("Search", "搜索"),
    "any": ("any", "全部"),
    "status": ("Status", "状态"),
    "severity": ("Severity", "级别"),
    "category": ("Category", "类别"),
    "reason": ("Reason", "原因"),
    "rule": ("Rule", "规则"),
    "branch": ("Branch", "网点"),
    "account": ("Account", "账户"),
    "assignee": ("Assignee", "处理人"),
    "since": ("From", "起始时间"),
    "until": ("Until", "截止时间"),
    "sort": ("Sort", "排序"),
    "newest": ("newest first", "最新在前"),
    "oldest": ("oldest first", "最早在前"),
    "severity_desc": ("most severe first", "级别从高到低"),
    "time": ("Time", "时间"),
    "message": ("Message", "内容"),
    "entity": ("Entity", "对象"),
    "alerts_found": ("{n} alert(s)", "共 {n} 条预警"),
    "page": ("Page {page} of {pages}", "第 {page} / {pages} 页"),
    "previous": ("Previous", "上一页"),
    "next": ("Next", "下一页"),
    "live": ("updates every {s} s", "每 {s} 秒自动刷新"),
    "selected": ("With the selected alerts", "对所选预警"),
    "bulk_ack": ("Acknowledge", "确认"),
    "bulk_assign": ("Assign to", "分派给"),
    "bulk_resolve": ("Resolve as", "办结为"),
    "bulk_comment": ("Comment", "添加备注"),
    "open_event": ("Open a risk event", "立案（风险事件）"),
    "nobody": ("nobody", "无"),
    "explanation": ("Why it fired", "触发依据"),
    "evidence": ("Evidence events", "证据事件"),
    "no_evidence": (
        "The store holds no evidence events for this alert.",
        "未保存该预警的证据事件。",
    ),
    "entity_alerts": ("Other alerts on this entity", "该对象的其他预警"),
    "recent_activity": ("Recent activity of this entity", "该对象的近期活动"),
    "history": ("History", "处理记录"),
    "decisions": ("Decisions", "处置"),
    "pack": ("Rule pack", "规则包"),
    "occurred": ("Event time", "发生时间"),
    "detected": ("Detected", "发现时间"),
    "action": ("Action", "操作"),
    "by": ("By", "操作人"),
    "comment": ("Comment", "备注"),
    "ack": ("Acknowledge", "确认"),
    "assign": ("Assign", "分派"),
    "resolve": ("Resolve", "办结"),
    "outcome": ("Outcome", "结论"),
    "reopen": ("Reopen", "重新打开"),
    "approve": ("Approve the false-positive close", "批准按误报关闭"),
    "reject": ("Send back", "退回"),
    "reveal": ("Reveal the full account", "查看完整账号"),
    "reveal_reason": ("Reason for revealing", "查看理由"),
    "revealed": ("Full account (recorded in the history)", "完整账号（已记入处理记录）"),
    "why": ("Reason", "理由"),
    "save": ("Save", "保存"),
    "pending_note": (
        "A supervisor other than {who} must approve this false-positive close.",
        "须由 {who} 以外的主管批准按误报关闭。",
    ),
    "read_only": ("Your role may only read.", "您的角色只能查看。"),
    "title": ("Title", "标题"),
    "owner": ("Owner", "负责人"),
    "alerts": ("Alerts", "关联预警"),
    "event_status": ("Status", "状态"),
    "followups": ("The four follow-ups (四不放过)", "四不放过"),
    "root_cause": ("Root cause", "原因分析"),
    "root_cause_category": ("Category", "原因类别"),
    "people": ("People responsible dealt with", "责任人处理"),
    "education": ("Staff education", "员工教育"),
    "remediation": ("Remediation actions", "整改措施"),
    "description": ("Description", "内容"),
    "due": ("Due", "期限"),
    "proposal": ("Rule-change proposal", "规则变更提案"),
    "add_action": ("Add an action", "新增整改措施"),
    "close_event": ("Close the risk event", "结案"),
    "missing": ("Still missing", "尚缺"),
    "overdue": ("overdue", "已逾期"),
    "overdue_actions": ("{n} overdue action(s)", "{n} 项整改逾期"),
    "export_csv": ("Export CSV", "导出 CSV"),
    "printable": ("Printable view", "打印视图"),
    "no_events": ("No risk events yet.", "暂无风险事件。"),
    "recorded": ("recorded", "已记录"),
    "not_recorded": ("not recorded", "未记录"),
    "opened": ("Opened", "立案时间"),
    "closed": ("Closed", "结案时间"),
    "done": ("Done", "完成"),
    "forbidden": ("You may not do this.", "您无权执行此操作。"),
    "action_not_done": ("action {n} not done", "整改措施 {n} 未完成"),
}

_VALUES: dict[str, dict[str, tuple[str, str]]] = {
    "status": {
        "open": ("open", "待处理"),
        "acknowledged": ("acknowledged", "已确认"),
        "pending_approval": ("pending approval", "待复核"),
        "resolved": ("confirmed", "已处置"),
        "false_positive": ("false positive", "误报"),
        "duplicate": ("duplicate", "重复"),
        "closed": ("closed", "已结案"),
        "in_progress": ("in progress", "进行中"),
        "done": ("done", "已完成"),
    },
    "outcome": {
        "confirmed": ("confirmed", "确认属实"),
        "false_positive": ("false positive", "误报"),
        "duplicate": ("duplicate", "重复"),
    },
    "severity": {
        "info": ("info", "提示"),
        "low": ("low", "低"),
        "medium": ("medium", "中"),
        "high": ("high", "高"),
        "critical": ("critical", "严重"),
    },
    "category": {
        "dual_review": ("dual review", "双人复核"),
        "large_transfer": ("large transfer", "大额转账"),
        "structuring": ("structuring", "拆分交易"),
        "after_hours": ("after hours", "非营业时间"),
        "model_anomaly": ("model anomaly", "模型异常"),
    },
    "role": {
        "officer": ("officer", "风险专员"),
        "supervisor": ("supervisor", "主管"),
        "auditor": ("auditor", "审计员"),
        "admin": ("admin", "系统管理员"),
    },
    "action": {
        "stored": ("stored", "入库"),
        "auto_resolved": ("resolved automatically (back to normal)", "自动恢复(指标已恢复正常)"),
        "transition": ("status change", "状态变更"),
        "assigned": ("assigned", "分派"),
        "commented": ("comment", "备注"),
        "revealed": ("full account revealed", "查看完整账号"),
        "reopened": ("reopened", "重新打开"),
        "close_requested": ("false-positive close requested", "申请按误报关闭"),
        "close_approved": ("close approved", "批准关闭"),
        "close_rejected": ("close sent back", "退回关闭申请"),
        "opened": ("opened", "立案"),
        "root_cause": ("root cause recorded", "记录原因分析"),
        "people_dealt_with": ("people dealt with", "记录责任人处理"),
        "staff_education": ("staff education recorded", "记录员工教育"),
        "action_added": ("action added", "新增整改措施"),
        "action_status": ("action status", "整改状态变更"),
        "closed": ("closed", "结案"),
    },
    "gap": {
        "root_cause": ("the root cause", "原因分析"),
        "people_dealt_with": ("how the people responsible were dealt with", "责任人处理"),
        "staff_education": ("the staff education", "员工教育"),
        "remediation_actions": ("at least one remediation action", "至少一项整改措施"),
    },
    "column": {
        "event_id": ("event", "事件编号"),
        "occurred_at": ("time", "发生时间"),
        "kind": ("kind", "类型"),
        "txn_type": ("type", "交易类型"),
        "account_id": ("account", "账户"),
        "amount": ("amount", "金额"),
        "currency": ("currency", "币种"),
        "direction": ("direction", "方向"),
        "channel": ("channel", "渠道"),
        "counterparty_account": ("counterparty", "对手账户"),
        "counterparty_country": ("country", "对手国家/地区"),
        "initiator_id": ("initiator", "经办人"),
        "operator_id": ("operator", "操作员"),
        "role": ("role", "岗位"),
        "action": ("action", "操作"),
        "target_txn_id": ("target transaction", "目标交易"),
        "target_account_id": ("target account", "目标账户"),
        "terminal_id": ("terminal", "终端"),
        "outcome": ("outcome", "结果"),
        "status": ("status", "状态"),
        "branch_id": ("branch", "网点"),
    },
    "reason": {
        "missing": ("no approval", "未复核"),
        "late": ("late approval", "逾时复核"),
        "self_approval": ("self-approval", "自我复核"),
        "unauthorised_reviewer": ("unauthorised reviewer", "复核人无权限"),
        "unusual_amount": ("unusual amount", "金额异常"),
        "unusual_hour": ("unusual hour", "时段异常"),
        "new_channel": ("new channel", "新渠道"),
        "new_counterparty": ("new counterparty", "新交易对手"),
        "new_country": ("new country", "新国家/地区"),
        "dormant_account": ("dormant account", "久悬账户"),
        "burst": ("burst of transactions", "交易突增"),
        "large_new_payee": ("large payment to a new payee", "向新收款人大额付款"),
        "action_burst": ("burst of actions", "操作突增"),
        "unusual_action": ("unusual action", "操作异常"),
        "unusual_activity": ("unusual activity", "行为异常"),
    },
    "explain": {
        "account_id": ("account", "账户"),
        "account_type": ("account type", "账户类型"),
        "action": ("action", "操作"),
        "allowed_roles": ("roles that may approve", "有复核权限的岗位"),
        "amount": ("amount", "金额"),
        "approver_id": ("approver", "复核人"),
        "approver_role": ("approver's role", "复核人岗位"),
        "approved_at": ("approved at", "复核时间"),
        "branch_id": ("branch", "网点"),
        "business_hours": ("business hours", "营业时间"),
        "channel": ("channel", "渠道"),
        "closed_because": ("closed because", "非营业原因"),
        "count": ("count", "笔数"),
        "counterparty_country": ("counterparty country", "对手国家/地区"),
        "currency": ("currency", "币种"),
        "event_id": ("event", "事件编号"),
        "initiated_at": ("initiated at", "发起时间"),
        "local_time": ("local time", "当地时间"),
        "measured": ("measured", "实测值"),
        "occurred_at": ("time", "发生时间"),
        "outcome": ("outcome", "结果"),
        "posted_at": ("posted at", "记账时间"),
        "status": ("status", "状态"),
        "threshold": ("threshold", "阈值"),
        "timezone": ("time zone", "时区"),
        "total": ("total", "合计"),
        "txn_ids": ("transactions", "交易"),
        "txn_type": ("transaction type", "交易类型"),
        "window": ("window", "统计窗口"),
        "within": ("within", "时限"),
    },
    "kind": {
        "transaction": ("transaction", "交易"),
        "operator_action": ("operator action", "操作行为"),
        "account": ("account", "账户"),
        "operator": ("operator", "操作员"),
    },
    "root_cause": {
        "process_gap": ("process gap", "制度流程缺陷"),
        "control_failure": ("control failure", "控制措施失效"),
        "system_defect": ("system defect", "系统缺陷"),
        "human_error": ("human error", "操作失误"),
        "misconduct": ("misconduct", "违规操作"),
        "external_fraud": ("external fraud", "外部欺诈"),
        "training_gap": ("training gap", "培训不足"),
        "other": ("other", "其他"),
    },
}


class Texts:
    """Page text in one language: ``texts("inbox")``, ``texts.value("status", "open")``."""

    def __init__(self, language: Language) -> None:
        self.language: Language = language
        self._index = 1 if language == "zh-CN" else 0

    def __call__(self, key: str, **values: object) -> str:
        pair = _TEXT.get(key)
        text = pair[self._index] if pair else key
        return text.format(**values) if values else text

    def gap(self, gap: str) -> str:
        """What still blocks closing a risk event (``action 3 not done`` or a follow-up name)."""
        found = re.fullmatch(r"action (\d+) not done", gap)
        if found:
            return self("action_not_done", n=found.group(1))
        return self.value("gap", gap)

    def value(self, kind: str, value: str | None) -> str:
        """A status, severity, category, outcome, role or history action in this language."""
        if value is None:
            return ""
        pair = _VALUES.get(kind, {}).get(value)
        return pair[self._index] if pair else value.replace("_", " ")


@lru_cache(maxsize=16)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def local_time(
    when: datetime | None, zone: str, language: Language, *, seconds: bool = False
) -> str:
    """``when`` in the bank's time zone with a localised weekday, as the CLI shows it."""
    if when is None:
        return ""
    local = when.astimezone(_zone(zone))
    clock = local.strftime("%H:%M:%S" if seconds else "%H:%M")
    if language == "zh-CN":
        return f"{local.year}年{local.month}月{local.day}日 {WEEKDAYS_ZH[local.weekday()]} {clock}"
    return f"{local:%Y-%m-%d} {clock} {local:%a}"
