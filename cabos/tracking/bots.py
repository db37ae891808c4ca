"""Bots never reach a trail: the maintained crawler list plus headless-browser signatures.

The crawler list is the ``crawler-user-agents`` package (a community-maintained list of
crawler patterns, updated on PyPI); upgrading the package updates the list. It misses
automation that pretends to be a browser, so a short list of headless and scripted
clients is added here, together with the ``navigator.webdriver`` flag the tracker reports.
"""

from __future__ import annotations

import re
from functools import lru_cache

import crawleruseragents

# Scripted clients and headless browsers (case-insensitive substrings of the User-Agent).
HEADLESS = re.compile(
    r"headlesschrome|headless|phantomjs|slimerjs|playwright|puppeteer|selenium|webdriver|"
    r"chrome-lighthouse|lighthouse|electron/|jsdom|htmlunit|python-requests|python-urllib|"
    r"python-httpx|aiohttp|httpx|urllib|curl/|wget/|libwww-perl|go-http-client|java/|okhttp|"
    r"node-fetch|axios/|undici|postmanruntime|insomnia|scrapy|httpclient|guzzlehttp",
    re.IGNORECASE,
)
MAX_UA = 512


@lru_cache(maxsize=8192)
def _is_bot(user_agent: str) -> bool:
    return bool(HEADLESS.search(user_agent)) or crawleruseragents.is_crawler(user_agent)


def is_bot(user_agent: str | None, webdriver: bool = False) -> bool:
    """A crawler, a headless or scripted client, an automated browser, or no User-Agent at all."""
    if webdriver or not user_agent or not user_agent.strip():
        return True
    # The same few hundred User-Agents make most traffic: remember the verdicts.
    return _is_bot(user_agent[:MAX_UA])
