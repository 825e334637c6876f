"""The demo pack looked at in a real browser: headless Chromium (Debian's) driven by Playwright.

Checks that every link resolves, every image loads, there are no console errors, and keeps
screenshots of the landing page and a unit brief (written next to the pack for people to
look at).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="Debian's chromium is not installed on this machine (make test installs it when run as root)")
ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-quic"]


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def _open(browser, url):
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url)
    page.wait_for_load_state("load")
    return page, errors


def _check_page(page, errors):
    broken = page.evaluate("Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0)"
                           ".map(i => i.alt)")
    assert broken == [], f"images that did not load: {broken}"
    assert errors == [], errors


def test_index_and_every_link_in_chromium(browser, small_pack):
    result, _, _ = small_pack
    page, errors = _open(browser, result.index.as_uri())
    assert "Culture report pack" in page.title()
    hrefs = page.eval_on_selector_all("a", "els => els.map(e => e.href)")
    assert len(hrefs) >= 9
    page.screenshot(path=str(result.folder.parent / "screenshot-index.png"), full_page=True)
    _check_page(page, errors)
    for href in hrefs:
        if not href.endswith(".html"):  # exports download rather than display: the file must exist
            from urllib.parse import unquote, urlparse

            assert Path(unquote(urlparse(href).path)).is_file(), href
            continue
        target, target_errors = _open(browser, href)
        assert target.evaluate("document.readyState") == "complete"
        assert target.title(), href
        _check_page(target, target_errors)
        target.close()


# Pairs of text labels inside one figure whose boxes overlap by more than a quarter of the
# smaller one (tick labels running into each other, a legend over an axis label).
OVERLAPPING_LABELS = """() => {
  const out = [];
  for (const svg of document.querySelectorAll('svg[role=img]')) {
    const boxes = [...svg.querySelectorAll('text')].map(t => [t.textContent, t.getBoundingClientRect()])
      .filter(([s, r]) => s.trim() && r.width > 0 && r.height > 0);
    for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
      const [a, r] = boxes[i], [b, q] = boxes[j];
      const w = Math.min(r.right, q.right) - Math.max(r.left, q.left);
      const h = Math.min(r.bottom, q.bottom) - Math.max(r.top, q.top);
      const small = Math.min(r.width * r.height, q.width * q.height);
      if (w > 0 && h > 0 && w * h > 0.25 * small) out.push(a + ' / ' + b);
    }
  }
  return out;
}"""


def test_unit_brief_renders_readably(browser, small_pack):
    result, _, _ = small_pack
    brief = sorted((result.folder / "units").glob("*.html"))[0]
    page, errors = _open(browser, brief.as_uri())
    _check_page(page, errors)
    assert page.locator("h1").inner_text().endswith(result.folder.name)
    figures = page.locator("svg[role=img]")
    assert figures.count() >= 2  # figures are inline SVG: text a screen reader can read
    for i in range(figures.count()):
        assert len(figures.nth(i).get_attribute("aria-label") or "") > 20
    assert page.evaluate(OVERLAPPING_LABELS) == []
    assert page.locator("pre, code, .jp-InputArea").count() == 0  # no code in a leader's brief
    text = page.locator("body").inner_text()
    assert "n = " in text and "95% CI" in text
    page.screenshot(path=str(result.folder.parent / "screenshot-brief.png"), full_page=True)


def test_briefs_print_to_pdf(small_pack, tmp_path):
    """--pdf: leaders who read on paper get each brief as a PDF printed by headless Chromium."""
    from culture.report.pack import print_pdfs

    result, _, _ = small_pack
    copy = tmp_path / "pack"
    shutil.copytree(result.folder, copy)
    brief = sorted((copy / "units").glob("*.html"))[0]
    # the organisation report too: the management review's papers (linked from the index)
    pdfs = print_pdfs(copy, [str(brief.relative_to(copy)), "org_report.html"])
    for pdf in pdfs:
        data = pdf.read_bytes()
        assert data.startswith(b"%PDF") and len(data) > 10_000
    assert not (copy / ".chromium").exists()  # the browser profile is not left in the pack


NOT_FOR_PEOPLE = r"\b(nan|NaN|None|null|undefined)\b"


def _raw_ids(bundle_units, constructs) -> list[str]:
    """Ids a reader must never see: unit ids and construct ids that are not plain words."""
    return sorted({*map(str, bundle_units), *(c for c in constructs if "_" in c)}, key=len,
                  reverse=True)


def _every_page(browser, folder, raw_ids):
    import re

    problems = []
    targets: dict[str, set[str]] = {}
    links = []
    for path in sorted(folder.rglob("*.html")):
        page, errors = _open(browser, path.as_uri())
        name = str(path.relative_to(folder))
        text = page.locator("body").inner_text()
        for word in sorted(set(re.findall(NOT_FOR_PEOPLE, text))):
            problems.append(f"{name}: '{word}' on the page")
        for raw in raw_ids:
            if re.search(rf"(?<![\w-]){re.escape(raw)}(?![\w-])", text):
                problems.append(f"{name}: raw id {raw!r} on the page")
        unlabelled = page.evaluate("[...document.querySelectorAll('svg[role=img]')]"
                                   ".filter(s => !(s.getAttribute('aria-label') || '').trim()).length"
                                   " + [...document.images].filter(i => !i.alt.trim()).length")
        if unlabelled:
            problems.append(f"{name}: {unlabelled} figure(s) without alt text")
        overlaps = page.evaluate(OVERLAPPING_LABELS)
        if overlaps:
            problems.append(f"{name}: overlapping labels {overlaps[:5]}")
        if errors:
            problems.append(f"{name}: console errors {errors}")
        targets[path.resolve().as_uri()] = set(page.eval_on_selector_all("[id]", "els => els.map(e => e.id)"))
        links += [(name, h) for h in page.eval_on_selector_all("a[href*='#']", "els => els.map(e => e.href)")]
        page.close()
    for name, href in links:
        url, _, anchor = href.partition("#")
        if url in targets and anchor not in targets[url]:
            problems.append(f"{name}: link to #{anchor} resolves nowhere")
    return problems, links


def test_every_page_of_the_pack_reads_cleanly(browser, small_pack, instrument):
    result, ws, _ = small_pack
    units = ws.org(result.manifest["wave"])["unit_id"]
    problems, links = _every_page(browser, result.folder,
                                  _raw_ids(units, [c.id for c in instrument.constructs]))
    assert not problems, "\n".join(problems)
    assert any("#finding-" in h for _, h in links)  # finding ids are links, and they resolve


def test_every_page_of_a_second_instruments_pack_reads_cleanly(browser, second_pack):
    folder, ws, inst = second_pack
    units = ws.org(folder.name)["unit_id"]
    problems, _ = _every_page(browser, folder, _raw_ids(units, [c.id for c in inst.constructs]))
    assert not problems, "\n".join(problems)
    text = (folder / "org_report.html").read_text(encoding="utf-8")
    assert "Clarity of priorities" in text and "Plant pulse check" in text
