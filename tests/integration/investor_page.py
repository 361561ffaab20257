"""What an investor must never see on the dashboard, checked in a real Chromium page.

``check_page(url)`` loads the page (through nginx or straight from ``hedge dashboard``),
collects the visible text of every pane (Panel panes live in shadow roots) and asserts:
no ``n/a`` (a value that exists is shown), no internal label (version tags, snake_case
config keys, ``key = value`` dumps, state-file names), no truncated text (no ellipsis,
no card or table cell whose text overflows its box). Returns the text and a screenshot.
"""

from __future__ import annotations

import os
import re

CHROMIUM = os.environ.get("HEDGE_CHROMIUM", "/usr/bin/chromium")
CHROME_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync"]

INTERNAL = [
    re.compile(r"\bv\d+\b", re.I),  # version tags: "V7 RISK KPIS", "(v7)"
    re.compile(r"\b[a-z]+(?:_[a-z0-9]+)+\b"),  # snake_case keys: dd_frac, per_symbol_nav_pct
    re.compile(r"\b\w+ = -?\d"),  # "dd_frac = 0.0811" dumps
    re.compile(r"\.jsonl?\b"),  # state-file names
]

# Text of every element, piercing shadow roots; and boxes whose text overflows.
TEXT_JS = """() => { const out = []; const over = [];
  const walk = (root) => { for (const el of root.querySelectorAll('*')) {
      if (el.shadowRoot) walk(el.shadowRoot);
      if (el.matches('.kpi .value, .kpi .caption, table.data td, .section-title h2, .status span')
          && el.offsetParent !== null && el.scrollWidth > el.clientWidth + 1)
        over.push(el.textContent.trim());
      if (el.matches('style, script')) continue;
      for (const n of el.childNodes) if (n.nodeType === 3 && n.textContent.trim() && el.offsetParent !== null)
        out.push(n.textContent.trim()); } };
  walk(document); return {text: out.join('\\n'), overflow: over}; }"""


def check_page(url: str, *, wait_for: str, http_credentials: dict[str, str] | None = None,
               viewport_width: int = 1440) -> tuple[str, bytes]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROME_ARGS)
        ctx = browser.new_context(viewport={"width": viewport_width, "height": 2400}, device_scale_factor=1,
                                  **({"http_credentials": http_credentials} if http_credentials else {}))
        page = ctx.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(url, wait_until="load", timeout=120_000)
        page.locator(wait_for).first.wait_for(timeout=120_000)
        page.wait_for_function("() => !document.querySelector('.pn-loading')", timeout=60_000)
        # the charts are drawn after the first render (ui/app.py defer_charts): wait for them
        for _ in range(240):
            if "Drawing the NAV history" not in page.evaluate(TEXT_JS)["text"]:
                break
            page.wait_for_timeout(500)
        page.wait_for_timeout(1500)  # let the tables lay out (settling, not an assertion)
        got = page.evaluate(TEXT_JS)
        shot = page.screenshot(full_page=True)
        ctx.close()
        browser.close()
    text = got["text"]
    assert errors == [], errors
    assert "n/a" not in text.lower(), [ln for ln in text.splitlines() if "n/a" in ln.lower()][:10]
    lines = [re.sub(r"/\S+", "", ln) for ln in text.splitlines()]  # file paths (the home) may have any name
    for rx in INTERNAL:
        hits = [ln for ln in lines if rx.search(ln)]
        assert not hits, f"internal label on the page ({rx.pattern}): {hits[:8]}"
    assert "…" not in text, [ln for ln in text.splitlines() if "…" in ln][:8]
    assert got["overflow"] == [], f"truncated text: {got['overflow'][:8]}"
    return text, shot
