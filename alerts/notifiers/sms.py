"""SMS through Twilio's Messages API (httpx): the on-call people named by the notification get a text.

    POST {base_url}/2010-04-01/Accounts/{sid}/Messages.json   basic auth sid:token, form To/From/Body

The text comes from sms.txt.j2 and is made to fit one segment (160 GSM-7 characters) where it can:
characters outside GSM-7 (which would make it UCS-2, 70 characters a segment) are replaced by their
nearest GSM-7 spelling, then the template's shorter levels are tried (level 0, 1, 2), and last the
words before the ack link are cut so the link survives whole.

One attempt per person per send. Each text Twilio accepted is recorded at once in the message's Progress
(the outbox keeps it in the notification's row, keyed by a hash of the phone number): when the outbox
retries after a failure for the second person, in this process or after a restart, the first is not
texted again.
"""

from __future__ import annotations

import hashlib
import logging
import re
import unicodedata
from collections.abc import Callable
from typing import Any, Literal

import httpx
from pydantic import Field, SecretStr, field_validator, model_validator

from alerts.dispatch import Notification
from alerts.notifiers.base import Progress
from alerts.notifiers.channel import ChannelBase, http_url
from alerts.notifiers.errors import RAW_BODY, DeliveryError, Scrubber, http_status_error, redact_logs
from alerts.notifiers.outgoing import LocalProgress, Outgoing
from alerts.oncall import OnCallConfig, Person
from alerts.templates import AckLink, TemplateProblem, Templates, message_context, short_link

log = logging.getLogger("converge.alerts.sms")
TEMPLATE = "sms.txt.j2"
LEVELS = 3
SEGMENT = 160  # GSM-7 septets in one SMS
MAX_BODY = 1600  # Twilio's limit for one message (it splits and rejoins longer ones)
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")

# GSM 03.38: the basic set (one septet) and the extension table (two septets: escape + char).
GSM7_BASIC = frozenset("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡"
                       "ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
GSM7_EXTENSION = frozenset("^{}\\[~]|€")
_NEAREST = {"‘": "'", "’": "'", "‚": "'", "“": '"', "”": '"', "„": '"', "–": "-", "—": "-", "−": "-",
            "…": "...", "•": "*", "·": "-", "→": "->", "←": "<-", "≥": ">=", "≤": "<=", "≠": "!=", "×": "x",
            "\u00a0": " ", "\t": " ", "°": "deg", "µ": "u", "`": "'"}


def to_gsm7(text: str) -> str:
    """The text in GSM-7 only: typographic punctuation to ASCII, accents dropped where GSM-7 lacks the
    letter, anything else '?'. One stray emoji would otherwise cut the segment from 160 to 70."""
    out = []
    for ch in text:
        if ch in GSM7_BASIC or ch in GSM7_EXTENSION:
            out.append(ch)
        elif ch in _NEAREST:
            out.append(_NEAREST[ch])
        else:
            base = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
            out.append(base if base and all(c in GSM7_BASIC or c in GSM7_EXTENSION for c in base) else "?")
    return "".join(out)


def septets(text: str) -> int:
    return sum(2 if ch in GSM7_EXTENSION else 1 for ch in text)


def _tidy(text: str) -> str:
    lines = (" ".join(line.split()) for line in text.splitlines())
    return "\n".join(line for line in lines if line)


def _trim(text: str, room: int) -> str:
    if septets(text) <= room:
        return text
    while text and septets(text) + 2 > room:
        text = text[:-1]
    return text.rstrip(" ,.:;-") + ".."


def fit_sms(render: Callable[[int], str], keep: tuple[str, ...] = ()) -> str:
    """The first level of the template that fits one segment; else the last one with the words before
    the first of `keep` found in it (the ack link) cut to fit, the link whole."""
    text = ""
    for level in range(LEVELS):
        text = _tidy(to_gsm7(render(level)))
        if septets(text) <= SEGMENT:
            return text
    for link in keep:
        link = to_gsm7(link)
        if link and link in text:
            at = text.rindex(link)
            head, tail = text[:at].rstrip(), text[at:]
            room = SEGMENT - septets(tail) - 1
            if room >= 12:
                return _trim(head, room) + " " + tail
            return text[:MAX_BODY]  # the link alone nearly fills a segment: send it whole, in two
    return _trim(text, SEGMENT)


class SmsChannel(ChannelBase):
    """Twilio's Messages API: texts the on-call people named by each notification."""

    type: Literal["sms"] = "sms"
    provider: Literal["twilio"] = "twilio"
    account_sid: str = Field(pattern=r"^AC[0-9a-fA-F]{32}$")
    auth_token: SecretStr
    from_number: str | None = None
    messaging_service_sid: str | None = Field(None, pattern=r"^MG[0-9a-fA-F]{32}$")
    base_url: str = "https://api.twilio.com"

    @field_validator("from_number", mode="before")
    @classmethod
    def _e164(cls, value: Any) -> Any:
        if value is None:
            return None
        if not isinstance(value, str):
            raise ValueError("from_number must be a quoted string in E.164 form, e.g. \"+14155550100\"")
        number = re.sub(r"[\s().-]", "", value)
        if not _E164.match(number):
            raise ValueError("from_number must be in E.164 form: + then country code and number, e.g. +14155550100")
        return number

    @field_validator("base_url")
    @classmethod
    def _base(cls, value: str) -> str:
        http_url(value, "base_url")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _sender(self) -> SmsChannel:
        if (self.from_number is None) == (self.messaging_service_sid is None):
            raise ValueError("give either from_number or messaging_service_sid: who the SMS comes from")
        return self


class SmsNotifier:
    def __init__(self, name: str, config: SmsChannel, templates: Templates, *, oncall: OnCallConfig | None = None,
                 ack_link: AckLink | None = None) -> None:
        self.name = name
        self.config = config
        self.requests_per_send = max(1, len(oncall.people) if oncall else 1)  # one text per recipient
        self.templates = templates
        self.oncall = oncall
        self.ack_link = ack_link
        phones = [p.phone for p in oncall.people] if oncall else []
        self.scrub = Scrubber([config.auth_token, *phones])
        redact_logs(config.auth_token)

    @property
    def url(self) -> str:
        return f"{self.config.base_url}/2010-04-01/Accounts/{self.config.account_sid}/Messages.json"

    def describe(self) -> str:
        return f"Twilio SMS from {self.config.from_number or self.config.messaging_service_sid}"

    async def send(self, message: Outgoing) -> None:
        await self._deliver(message.notification, LocalProgress())

    async def resume(self, message: Outgoing, progress: Progress) -> None:
        await self._deliver(message.notification, progress)

    def recipients(self, note: Notification) -> list[Person]:
        """The people named by the notification; with none named, the on-call primary at its time."""
        if self.oncall is None:
            return []
        people = {p.name: p for p in self.oncall.people}
        named = [people[n] for n in dict.fromkeys(note.recipients) if n in people]
        unknown = [n for n in note.recipients if n not in people]
        if unknown:
            log.warning("%s: recipients %s are not among the on-call people; not texted", self.name,
                        ", ".join(unknown), extra={"channel": self.name, "names": unknown})
        if not note.recipients:
            named = [self.oncall.who(note.created_at).primary]
        return named

    def render(self, note: Notification, *, test: bool = False) -> str:
        ctx = message_context(note, self.ack_link, test=test)
        links = [ctx["ack_link"]] if ctx["ack_link"] else []
        try:
            return fit_sms(lambda level: self.templates.render(TEMPLATE, **ctx, level=level),
                           keep=(*links, *(short_link(x) for x in links)))
        except TemplateProblem as exc:
            raise DeliveryError(self.name, str(exc), retryable=False) from None

    async def deliver(self, note: Notification, *, test: bool = False) -> None:
        await self._deliver(note, LocalProgress(), test=test)

    async def _deliver(self, note: Notification, progress: Progress, *, test: bool = False) -> None:
        people = self.recipients(note)
        if not people:
            raise DeliveryError(self.name, "no recipient: no on-call person with a phone is configured (oncall:)",
                                retryable=False)
        body = self.render(note, test=test)
        done: list[str] = []
        async with httpx.AsyncClient(timeout=self.config.timeout, follow_redirects=False) as client:
            for person in people:
                part = phone_part(person)
                if progress.done(part):
                    continue  # a retry after a failure for someone else: this person has it already
                try:
                    await self._post(client, person, body)
                except DeliveryError as exc:
                    if done:
                        exc.reason = exc.reason + f" (already sent to {', '.join(done)})"
                    raise
                progress.accepted(part)  # recorded before the next person's request can fail
                done.append(person.name)

    async def _post(self, client: httpx.AsyncClient, person: Person, body: str) -> None:
        form = {"To": person.phone.get_secret_value(), "Body": body}
        if self.config.messaging_service_sid:
            form["MessagingServiceSid"] = self.config.messaging_service_sid
        else:
            form["From"] = self.config.from_number or ""
        try:
            resp = await client.post(self.url, data=form,
                                     auth=(self.config.account_sid, self.config.auth_token.get_secret_value()))
        except httpx.HTTPError as exc:
            reason = f"cannot reach Twilio to text {person.name}: {type(exc).__name__}: {exc}"
            raise DeliveryError(self.name, self.scrub(reason), retryable=True) from None
        if resp.status_code in (200, 201):
            return
        error = _twilio_error(resp)
        raise http_status_error(self.name, resp.status_code, f"texting {person.name}" + (f": {error}" if error else ""),
                                resp.headers.get("Retry-After"), self.scrub)


def phone_part(person: Person) -> str:
    """The progress key of a text to this person's number: a hash, so the store holds no phone number."""
    return "to:" + hashlib.sha256(person.phone.get_secret_value().encode()).hexdigest()[:20]


def _twilio_error(resp: httpx.Response) -> str:
    """Twilio's error document: {"code": 21211, "message": "...", "more_info": ...}."""
    try:
        data = resp.json()
    except ValueError:
        return resp.text[:RAW_BODY]
    if not isinstance(data, dict):
        return ""
    code, message = data.get("code"), data.get("message")
    return f"Twilio error {code}: {message}" if code else str(message or "")
