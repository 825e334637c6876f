"""Executed notebooks as standalone HTML pages: outputs only, no code, no metadata."""

from __future__ import annotations

import html
import re
from pathlib import Path

import nbformat

HIDDEN_TAGS = {"parameters", "injected-parameters", "remove-cell"}

def to_html(executed: Path | nbformat.NotebookNode, title: str, *, back: str = "") -> str:
    """Executed notebook -> standalone HTML: outputs only, no code, no metadata, no stderr.

    The pages' outputs are HTML the views wrote and markdown text, so the page is put
    together here rather than through nbconvert's template engine (a tenth of a second per
    page; thousands of briefs).
    """
    nb = executed if isinstance(executed, nbformat.NotebookNode) else nbformat.read(executed, as_version=4)
    parts = []
    for cell in nb.cells:
        if set(cell.metadata.get("tags", [])) & HIDDEN_TAGS:
            continue
        if cell.cell_type == "markdown":
            parts.append('<div class="jp-Cell jp-MarkdownCell"><div class="jp-RenderedMarkdown">'
                         f"{_markdown(cell.source)}</div></div>")
        elif cell.cell_type == "code":
            shown = [_output(o) for o in cell.outputs
                     if not (o.output_type == "stream" and o.get("name") == "stderr")]
            if shown:
                parts.append('<div class="jp-Cell jp-CodeCell">' + "".join(shown) + "</div>")
    return page(title, "\n".join(parts), back=back)


def _markdown(source: str) -> str:
    from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath

    text = MarkdownWithMath(renderer=IPythonRenderer(escape=False, anchor_link_text="")).render(source)
    # An empty anchor comes out as <a ... />, which HTML reads as an open link swallowing
    # the rest of the page: close it.
    return _EMPTY_ANCHOR.sub(r"\1></a>", text)


_EMPTY_ANCHOR = re.compile(r"(<a [^>]*?)\s*/>")


def _output(out) -> str:
    """One output as HTML, richest form first (as a notebook front end shows it)."""
    data = out.get("data", {})
    if "text/html" in data:
        body = data["text/html"]
    elif "image/svg+xml" in data:
        body = data["image/svg+xml"]
    elif "image/png" in data:
        body = f'<img src="data:image/png;base64,{data["image/png"]}" alt="">'
    elif "text/markdown" in data:
        body = _markdown(data["text/markdown"])
    elif "text/plain" in data:
        body = f"<pre>{html.escape(data['text/plain'])}</pre>"
    elif out.output_type == "stream":
        body = f"<pre>{html.escape(out.get('text', ''))}</pre>"
    elif out.output_type == "error":
        body = f"<pre>{html.escape(out.get('ename', 'error'))}</pre>"
    else:
        return ""
    return f'<div class="jp-OutputArea-output">{body}</div>'


PAGE_CSS = """
body {font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; max-width: 980px;
      margin: 2em auto; padding: 0 1.2em; color: #1f2328; line-height: 1.45}
h1 {font-size: 1.6em; border-bottom: 2px solid #0b5394; padding-bottom: .3em}
h2 {font-size: 1.25em; margin-top: 1.6em} img {max-width: 100%; height: auto}
nav a {margin-right: 1em} .jp-OutputPrompt, .jp-InputPrompt {display: none}
footer {margin-top: 3em; color: #666; font-size: .85em; border-top: 1px solid #ddd; padding-top: .6em}
"""


def page(title: str, body: str, *, back: str = "") -> str:
    nav = f'<nav><a href="{html.escape(back)}">&larr; Report pack</a></nav>' if back else ""
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{html.escape(title)}</title><style>{PAGE_CSS}</style></head>"
            f"<body>{nav}{body}<footer>Culture workbench. Groups below the anonymity threshold and "
            f"groups that could be derived by subtraction are not reported.</footer></body></html>\n")
