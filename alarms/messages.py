"""What an alarm says, in Chinese or English: titles, bodies and the names of rules and severities."""

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

RULE_NAMES = {
    "meter_no_data": ("仪表无数据", "Meter not reporting"),
    "gateway_offline": ("网关离线", "Gateway offline"),
    "gateway_spool": ("网关缓存积压", "Gateway spool backlog"),
    "gateway_clock": ("网关时钟偏差", "Gateway clock offset"),
    "counter_events": ("计量异常事件", "Counter events"),
    "completeness_day": ("日数据完整率不足", "Daily data completeness low"),
    "completeness_month": ("月数据完整率不足", "Monthly data completeness low"),
    "dead_letters": ("接入死信过多", "Ingest dead letters"),
    "power": ("功率超限", "Power above threshold"),
    "projection_off_track": ("年末预测超目标", "Year-end projection above target"),
}
SEVERITY_NAMES = {"info": ("提示", "info"), "warning": ("警告", "warning"), "critical": ("严重", "critical")}
EVENT_NAMES = {"raised": ("告警", "RAISED"), "cleared": ("恢复", "CLEARED")}
SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}


@dataclass(frozen=True, slots=True)
class Notice:
    """One alarm event as a channel sends it (no secrets in here)."""

    alarm_id: int
    event: str  # raised, cleared
    park: str
    park_name: str
    rule: str
    subject: str
    severity: str
    message: str
    at: datetime
    flaps: int
    zone: ZoneInfo

    def as_json(self) -> dict:
        return {"id": self.alarm_id, "event": self.event, "park": self.park, "rule": self.rule,
                "subject": self.subject, "severity": self.severity, "message": self.message,
                "at": self.at.isoformat(), "flaps": self.flaps}

    def title(self, language: str) -> str:
        i = 0 if language == "zh" else 1
        return (f"[{EVENT_NAMES[self.event][i]}][{SEVERITY_NAMES[self.severity][i]}] "
                f"{self.park_name}: {RULE_NAMES[self.rule][i]} {self.subject}")

    def lines(self, language: str) -> list[str]:
        local = self.at.astimezone(self.zone).strftime("%Y-%m-%d %H:%M:%S")
        if language == "zh":
            return [f"园区：{self.park_name}（{self.park}）", f"规则：{RULE_NAMES[self.rule][0]}",
                    f"对象：{self.subject}", f"级别：{SEVERITY_NAMES[self.severity][0]}",
                    f"时间：{local}", f"详情：{self.message}", f"告警编号：{self.alarm_id}"]
        return [f"Park: {self.park_name} ({self.park})", f"Rule: {RULE_NAMES[self.rule][1]}",
                f"Subject: {self.subject}", f"Severity: {self.severity}", f"Time: {local}",
                f"Details: {self.message}", f"Alarm id: {self.alarm_id}"]

    def text(self, language: str) -> str:
        return "\n".join([self.title(language), *self.lines(language)])

    def markdown(self, language: str) -> str:
        return "\n".join([f"### {self.title(language)}", *(f"> {line}" for line in self.lines(language))])


@dataclass(frozen=True, slots=True)
class Digest:
    """Several low-severity notices of one channel as one message (`digest_s`)."""

    notices: tuple[Notice, ...]
    at: datetime

    def as_json(self) -> dict:
        return {"event": "digest", "at": self.at.isoformat(), "alarms": [n.as_json() for n in self.notices]}

    def title(self, language: str) -> str:
        n = len(self.notices)
        return f"[摘要] {n} 条提示告警" if language == "zh" else f"[DIGEST] {n} info alarms"

    def lines(self, language: str) -> list[str]:
        return [f"- {n.title(language)}: {n.message}" for n in self.notices]

    def text(self, language: str) -> str:
        return "\n".join([self.title(language), *self.lines(language)])

    def markdown(self, language: str) -> str:
        return "\n".join([f"### {self.title(language)}", *self.lines(language)])
