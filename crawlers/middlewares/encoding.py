"""Pages whose declared encoding is wrong: Scrapy trusts the header (then the <meta>), so a Shift_JIS
page served as ISO-8859-1, or a GBK page served as UTF-8, would become mojibake. When the declared
encoding cannot decode the page, or is a Western single-byte one while the bytes read as a CJK
encoding, the encoding is detected (charset-normalizer) and the response re-decoded."""
from __future__ import annotations

import logging

import charset_normalizer
from scrapy.http import HtmlResponse
from w3lib.encoding import resolve_encoding

logger = logging.getLogger(__name__)
# Encodings that decode any byte sequence, so a wrong one never fails loudly.
SINGLE_BYTE = {"cp1252", "latin_1", "iso8859-1", "ascii"}
CJK = ("shift_jis", "cp932", "euc_jp", "euc_jis", "iso2022_jp", "gb2312", "gbk", "gb18030", "big5", "cp950",
       "euc_kr", "cp949", "johab", "hz")


def _decodes(body: bytes, encoding: str) -> bool:
    try:
        body.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        return False
    return True


def better_encoding(body: bytes, declared: str) -> str | None:
    """A detected encoding to use instead of the declared one, or None when the declared one is right."""
    declared = (resolve_encoding(declared) or declared).replace("-", "_").lower()
    if declared not in SINGLE_BYTE and _decodes(body, declared):
        return None
    if declared in SINGLE_BYTE and not any(byte >= 0x80 for byte in body):
        return None
    best = charset_normalizer.from_bytes(body).best()
    if best is None or best.encoding.replace("-", "_").lower() == declared:
        return None
    detected = resolve_encoding(best.encoding) or best.encoding
    if declared in SINGLE_BYTE and not detected.replace("-", "_").lower().startswith(CJK):
        return None  # a Western page really in cp1252 stays as it is
    return detected


def decoded(response: HtmlResponse) -> HtmlResponse:
    """The response, re-decoded when its declared encoding is wrong: what the crawl reads, and `extract`."""
    detected = better_encoding(response.body, response.encoding)
    if detected is None:
        return response
    logger.info("%s: declared %s, decoded as %s", response.url, response.encoding, detected)
    return response.replace(encoding=detected)


class EncodingMiddleware:
    def __init__(self, stats=None):
        self.stats = stats

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler.stats)

    def process_response(self, request, response):
        if not isinstance(response, HtmlResponse):
            return response
        fixed = decoded(response)
        if fixed is not response and self.stats is not None:
            self.stats.inc_value("kuchikomi/encoding/corrected")
        return fixed
