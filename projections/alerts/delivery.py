"""Delivery: send one alert through aiogram 3 with retries, never leaking the token.

``TelegramSender.send(text)`` returns a :class:`Delivery` - delivered with
Telegram's ``message_id``, or failed after the last try - and raises
:class:`DeliveryFatal` only for problems no retry can fix and that would fail every
later alert too (token refused, bot blocked, chat unknown): then the follower
stops instead of recording every pending alert as failed.

Retries: a 5xx, a network error or a timeout waits ``retry_base_s * 2**(n-1)``
(capped at ``retry_max_s``); a 429 waits the ``retry_after`` Telegram asked for.
Both count as attempts, up to ``retry_attempts``. Other 4xx fail at once.

aiogram puts the token in the request URL, so every error text that leaves this
module goes through :func:`redact`.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    AiogramError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)

from config.settings import TelegramSettings

DEFAULT_API_BASE = "https://api.telegram.org"
# Telegram tokens are "<bot id>:<35 url-safe chars>"; also catch them inside URLs.
_TOKEN_RE = re.compile(r"(?<=/bot)[^/\s]+|(?<![0-9])\d{6,}:[A-Za-z0-9_-]{30,}")
_TOKEN_SHAPE = re.compile(r"^\d+:[A-Za-z0-9_-]+$")


class DeliveryFatal(RuntimeError):
    """Telegram refused in a way every later alert would share (bad token, chat)."""


@dataclass(frozen=True)
class Delivery:
    ok: bool
    attempts: int
    message_id: int = 0
    error: str = ""


@dataclass(frozen=True)
class TelegramTarget:
    """Where to send: token, chat and Bot API base (``TELEGRAM_*``, read once by the CLI)."""

    token: str
    chat_id: str
    api_base: str = DEFAULT_API_BASE

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> TelegramTarget:
        """``from_settings`` over the ``TELEGRAM_*`` entries of a mapping given to it."""
        return cls.from_settings(TelegramSettings.from_env(env))

    @classmethod
    def from_settings(cls, s: TelegramSettings) -> TelegramTarget:
        """``TELEGRAM_BOT_TOKEN``, ``TELEGRAM_CHAT_ID``, ``TELEGRAM_API_BASE`` (optional), checked."""
        token, chat = s.token.reveal(), s.chat_id
        if not token or not chat:
            missing = [k for k, v in (("TELEGRAM_BOT_TOKEN", token), ("TELEGRAM_CHAT_ID", chat)) if not v]
            raise ValueError(f"{' and '.join(missing)} not set (needed to send; --preview needs neither)")
        if not _TOKEN_SHAPE.match(token):
            raise ValueError("TELEGRAM_BOT_TOKEN does not look like a bot token (digits:rest)")
        base = (s.api_base or DEFAULT_API_BASE).rstrip("/")
        return cls(token=token, chat_id=chat, api_base=base)

    def __repr__(self) -> str:  # never print the token
        return f"TelegramTarget(chat_id={self.chat_id!r}, api_base={self.api_base!r})"


def redact(text: str, token: str | None = None) -> str:
    """Remove a bot token (the given one, and anything token-shaped) from ``text``."""
    if token:
        text = text.replace(token, "<token>")
    return _TOKEN_RE.sub("<token>", text)


class TelegramSender:
    """Sends plain-text messages with the real aiogram client (one Bot, reused)."""

    def __init__(
        self, target: TelegramTarget, *, attempts: int = 4, base_s: float = 1.0, max_s: float = 60.0,
        timeout_s: float = 15.0, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ):
        self.target = target
        self.attempts = max(1, attempts)
        self.base_s = base_s
        self.max_s = max_s
        self.timeout_s = timeout_s
        self.sleep = sleep
        self._bot: Bot | None = None

    def _get_bot(self) -> Bot:
        if self._bot is None:
            session = AiohttpSession(api=TelegramAPIServer.from_base(self.target.api_base), timeout=self.timeout_s)
            self._bot = Bot(self.target.token, session=session)
        return self._bot

    def configure(self, *, attempts: int, base_s: float, max_s: float, timeout_s: float) -> None:
        """Retry settings come from the config recorded in the alert's session."""
        self.attempts, self.base_s, self.max_s = max(1, attempts), base_s, max_s
        if timeout_s != self.timeout_s:
            self.timeout_s = timeout_s
            if self._bot is not None:
                self._bot.session.timeout = timeout_s

    def _why(self, exc: BaseException) -> str:
        return redact(f"{type(exc).__name__}: {exc}", self.target.token)

    async def send(self, text: str) -> Delivery:
        """Deliver ``text`` to the chat; retries per the class docstring."""
        bot = self._get_bot()
        last = ""
        for n in range(1, self.attempts + 1):
            wait = min(self.max_s, self.base_s * 2 ** (n - 1))
            try:
                msg = await bot.send_message(chat_id=self.target.chat_id, text=text)
                return Delivery(ok=True, attempts=n, message_id=int(msg.message_id))
            except TelegramRetryAfter as exc:
                last = self._why(exc)
                wait = float(exc.retry_after)  # honour Telegram's flood control in full
            except TelegramUnauthorizedError as exc:
                raise DeliveryFatal(f"Telegram refused the bot token ({self._why(exc)})") from None
            except TelegramForbiddenError as exc:
                raise DeliveryFatal(f"the bot may not write to chat {self.target.chat_id} ({self._why(exc)})") from None
            except (TelegramBadRequest, TelegramNotFound) as exc:
                why = self._why(exc)
                if "chat not found" in why.lower():
                    raise DeliveryFatal(f"chat {self.target.chat_id} not found ({why})") from None
                return Delivery(ok=False, attempts=n, error=why)  # this message is the problem
            except (TimeoutError, TelegramServerError, TelegramNetworkError, OSError) as exc:
                last = self._why(exc)
            except AiogramError as exc:  # undecodable answer, unexpected status: retry
                last = self._why(exc)
            if n < self.attempts:
                await self.sleep(wait)
        return Delivery(ok=False, attempts=self.attempts, error=last or "not delivered")

    async def close(self) -> None:
        if self._bot is not None:
            await self._bot.session.close()
            self._bot = None
