"""The notification channels: generic webhook, email (SMTP with STARTTLS), WeCom, DingTalk, Feishu.

One function per channel kind sends one notice or raises `ChannelFailed`. Library errors are
translated here, once; messages never carry the URL (a robot's URL holds its key) or any secret.
Formats (docs/alarms.md, Channels):
- webhook: JSON body, header `X-Lingtan-Signature: sha256=<hex HMAC-SHA256(secret, body)>`.
- WeCom group robot: POST `{"msgtype": "markdown", "markdown": {"content": ...}}` to the robot URL
  (`.../cgi-bin/webhook/send?key=KEY`); success is `errcode` 0.
- DingTalk robot: `timestamp` (ms) and `sign` = urlencode(base64(HMAC-SHA256(secret,
  f"{timestamp}\\n{secret}"))) as query parameters; body `{"msgtype": "markdown", ...}`; `errcode` 0.
- Feishu/Lark bot: body carries `timestamp` (s) and `sign` = base64(HMAC-SHA256(key=f"{timestamp}\\n{secret}",
  msg=b"")) next to `{"msg_type": "text", "content": {"text": ...}}`; success is `code` 0.
"""

import base64
import hashlib
import hmac
import json
import smtplib
import ssl
import time
from email.message import EmailMessage
from urllib.parse import quote_plus

import httpx

from lingtan.alarms.messages import Notice
from lingtan.kernel.config import AlarmChannel, ConfigError

SIGNATURE_HEADER = "X-Lingtan-Signature"


class ChannelFailed(Exception):
    """A channel did not accept a notice; the message is safe to log (no URL, no secret)."""


def check_secrets(channels: list[AlarmChannel]) -> None:
    """Resolve every configured secret once at start, so a missing variable or file stops the
    service with ConfigError naming it (the values are not kept or logged here)."""
    for ch in channels:
        for name in ("url", "secret", "password"):
            ch.secret(name)


def send(channel: AlarmChannel, notice: Notice) -> None:
    """Send one notice; any failure is ChannelFailed with a message safe to log. An unexpected
    exception (httpx's InvalidURL, smtplib's UnicodeEncodeError on a non-ASCII password) is named
    by its type only: its text can hold the URL's key or a character of the password."""
    try:
        SENDERS[channel.kind](channel, notice)
    except ChannelFailed:
        raise
    except ConfigError as exc:
        raise ChannelFailed(str(exc)) from exc
    except Exception as exc:
        raise ChannelFailed(f"{type(exc).__name__} (unexpected)") from None


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def feishu_sign(secret: str, timestamp_s: int) -> str:
    digest = hmac.new(f"{timestamp_s}\n{secret}".encode(), b"", hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def _post(channel: AlarmChannel, url: str, body: bytes, headers: dict | None = None) -> httpx.Response:
    try:
        response = httpx.post(url, content=body, timeout=channel.timeout_s,
                              headers={"Content-Type": "application/json; charset=utf-8", **(headers or {})})
    except httpx.HTTPError as exc:
        raise ChannelFailed(f"{type(exc).__name__}") from None  # httpx messages can hold the URL
    if response.status_code >= 300:
        raise ChannelFailed(f"HTTP {response.status_code}")
    return response


def _vendor_ok(response: httpx.Response, field: str) -> None:
    try:
        code = response.json().get(field)
    except (ValueError, AttributeError):
        raise ChannelFailed("the answer is not JSON") from None
    if code != 0:
        raise ChannelFailed(f"{field} = {code!r}")


def _body(data: dict) -> bytes:
    return json.dumps(data, ensure_ascii=False).encode("utf-8")


def _webhook(channel: AlarmChannel, notice: Notice) -> None:
    body = _body(notice.as_json() | {"title": notice.title(channel.language)})
    headers = {}
    secret = channel.secret("secret")
    if secret:
        headers[SIGNATURE_HEADER] = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    _post(channel, channel.secret("url"), body, headers)


def _wecom(channel: AlarmChannel, notice: Notice) -> None:
    body = _body({"msgtype": "markdown", "markdown": {"content": notice.markdown(channel.language)}})
    _vendor_ok(_post(channel, channel.secret("url"), body), "errcode")


def _dingtalk(channel: AlarmChannel, notice: Notice) -> None:
    url = channel.secret("url")
    secret = channel.secret("secret")
    if secret:
        ts = int(time.time() * 1000)  # DingTalk checks it against its own clock (within an hour)
        url += ("&" if "?" in url else "?") + f"timestamp={ts}&sign={quote_plus(dingtalk_sign(secret, ts))}"
    body = _body({"msgtype": "markdown", "markdown": {"title": notice.title(channel.language),
                                                      "text": notice.markdown(channel.language)}})
    _vendor_ok(_post(channel, url, body), "errcode")


def _feishu(channel: AlarmChannel, notice: Notice) -> None:
    data: dict = {"msg_type": "text", "content": {"text": notice.text(channel.language)}}
    secret = channel.secret("secret")
    if secret:
        ts = int(time.time())
        data = {"timestamp": str(ts), "sign": feishu_sign(secret, ts), **data}
    _vendor_ok(_post(channel, channel.secret("url"), _body(data)), "code")


def _email(channel: AlarmChannel, notice: Notice) -> None:
    msg = EmailMessage()
    msg["Subject"] = notice.title(channel.language)
    msg["From"] = channel.sender
    msg["To"] = ", ".join(channel.to)
    msg.set_content(notice.text(channel.language))  # (set_content replaces Content-* headers: set it first)
    msg["Content-Language"] = "zh-CN" if channel.language == "zh" else "en"
    password = channel.secret("password")
    try:
        with smtplib.SMTP(channel.smtp_host, channel.smtp_port, timeout=channel.timeout_s) as smtp:
            if channel.starttls:
                smtp.starttls(context=ssl.create_default_context(cafile=channel.ca_file))
            if channel.username:
                smtp.login(channel.username, password or "")
            smtp.send_message(msg)
    except (OSError, smtplib.SMTPException) as exc:
        code = getattr(exc, "smtp_code", None)
        raise ChannelFailed(f"{type(exc).__name__}{f' {code}' if code else ''}") from None


SENDERS = {"webhook": _webhook, "email": _email, "wecom": _wecom, "dingtalk": _dingtalk, "feishu": _feishu}
