"""Helpers of the dashboard's browser tests (playwright against a real uvicorn server, see
tests/support/api.py `serving` and `chromium`): log in and wait for the shell to be ready, and
check that nothing raw is on screen."""

import contextlib
import re
from collections.abc import Iterator

from playwright.sync_api import Page, expect, sync_playwright

# enum values the API sends and the dashboard must translate (kernel.park Carrier and Role, meter,
# gateway and indicator statuses); none may be visible as a whole word in the Chinese UI
RAW_ENUMS = frozenset({
    "electricity", "natural_gas", "heat", "diesel", "gasoline", "lpg", "raw_coal", "water",
    "grid", "green_direct", "pv", "wind", "fossil_generation", "storage", "supply", "enterprise", "load",
    "ok", "late", "silent", "no_data", "offline", "online",
    "met", "not_met", "insufficient_data", "not_applicable", "excluded",
})
KEY_VALUE = re.compile(r"\b[a-z_]+=[-\d]")


@contextlib.contextmanager
def served_page(platform, width: int = 1280, height: int = 1000, **options) -> Iterator[tuple[str, Page]]:
    """The platform on a real uvicorn server and a page of Debian's Chromium in Chinese on it:
    yields (base URL, page); fails afterwards if a script on the page threw."""
    from tests.support.api import chromium, serving
    errors: list[str] = []
    with serving(platform) as base, sync_playwright() as pw:
        browser = chromium(pw)
        try:
            page = browser.new_page(viewport={"width": width, "height": height}, locale="zh-CN", **options)
            page.on("pageerror", lambda e: errors.append(str(e)))
            yield base, page
        finally:
            browser.close()
    assert errors == []


def open_dashboard(page: Page, base_url: str, user: str, password: str, lang: str = "zh", hash: str = "",
                   query: str = "", timeout: float = 10000) -> None:
    """Open the dashboard (optionally at `#/<hash>` and with `?<query>`), log in, switch to `lang`
    with the language button, and wait until the shell says `LT.ready === true`."""
    url = base_url + "/" + (f"?{query}" if query else "") + (f"#/{hash.lstrip('#/')}" if hash else "")
    page.goto(url)
    expect(page.locator("#login")).to_be_visible(timeout=timeout)
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", password)
    page.click("#login-form button[type=submit]")
    page.wait_for_function("window.LT && window.LT.ready === true", timeout=timeout)
    if page.evaluate("LT.lang()") != lang:
        set_lang(page, lang, timeout)


def set_lang(page: Page, lang: str, timeout: float = 10000) -> None:
    """Switch the language as a person does (the button; in wall mode, where it is hidden, LT.setLang)."""
    if page.locator("#lang").is_visible():
        page.click("#lang")
    else:
        page.evaluate("(lang) => LT.setLang(lang)", lang)
    page.wait_for_function("(lang) => LT.lang() === lang && LT.ready === true", arg=lang, timeout=timeout)


def visible_text(page: Page, names: bool = True) -> str:
    """The page's visible text; without the proper names from the park's configuration (elements of
    class `lt-name`: meter, enterprise and park names such as "储能 Battery storage") if not `names`."""
    return page.evaluate("""(names) => {
        let text = document.body.innerText;
        if (!names) for (const el of document.querySelectorAll(".lt-name")) text = text.split(el.innerText).join(" ");
        return text;
    }""", names)


def assert_no_raw_text(page: Page) -> None:
    """Fail if a dictionary key was missing, or the visible text shows an untranslated enum value
    (as a whole word, in Chinese mode) or a raw `key=value` pair. Proper names from the configuration
    (class `lt-name`) are not judged."""
    missing = page.evaluate("[...LT.i18n.missing]")
    assert missing == [], f"strings missing from the dictionary: {missing}"
    text = visible_text(page, names=False)
    pairs = KEY_VALUE.findall(text)
    assert not pairs, f"raw key=value text on screen: {pairs}"
    if page.evaluate("LT.lang()") == "zh":
        words = set(re.findall(r"(?<![\w-])[a-z_]+(?![\w-])", text))
        raw = sorted(words & RAW_ENUMS)
        assert not raw, f"untranslated enum values on screen: {raw}"
