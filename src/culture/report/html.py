"""Executed notebooks as standalone HTML pages: outputs only, no code, no metadata."""

from __future__ import annotations

import html
from pathlib import Path

import nbformat

HIDDEN_TAGS = {"parameters", "injected-parameters", "remove-cell"}

def to_html(executed: Path, title: str, *, back: str = "") -> str:
    """Executed notebook -> standalone HTML: outputs only, no code, no metadata, no stderr."""
    from nbconvert import HTMLExporter

    nb = nbformat.read(executed, as_version=4)
    keep = []
    for cell in nb.cells:
        tags = set(cell.metadata.get("tags", []))
        if tags & HIDDEN_TAGS:
            continue
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.outputs
                            if not (o.output_type == "stream" and o.get("name") == "stderr")]
            if not cell.outputs:
                continue
        cell.metadata = {}
        keep.append(cell)
    nb.cells = keep
    nb.metadata = {"language_info": {"name": "python"}}
    exporter = HTMLExporter(template_name="basic", exclude_input=True, exclude_input_prompt=True,
                            exclude_output_prompt=True, anchor_link_text="")
    body, _ = exporter.from_notebook_node(nb)
    return page(title, body, back=back)


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
