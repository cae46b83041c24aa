"""Renderers: the report's blocks as Markdown and as one self-contained HTML page;
:func:`build_report` and :func:`write_report`."""

from __future__ import annotations

import base64
import html as _html
import os
import re
from pathlib import Path
from typing import Any

from xlrm.report.blocks import Block, Bullets, Figure, Heading, Para, Table
from xlrm.report.inputs import INPUT_KINDS, ReportInputs
from xlrm.report.sections import report_blocks


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render_markdown(blocks: list[Block], markdown_dir: str) -> str:
    out: list[str] = []
    for b in blocks:
        if isinstance(b, Heading):
            out.append("#" * b.level + " " + b.text)
        elif isinstance(b, Para):
            if b.kind == "reading":
                out.append(f"*Reading:* {b.text}")
            elif b.kind == "missing":
                out.append(f"> **{b.text}**")
            else:
                out.append(b.text)
        elif isinstance(b, Bullets):
            out.append("\n".join(f"- {i}" for i in b.items))
        elif isinstance(b, Table):
            lines = ["| " + " | ".join(_md_cell(c) for c in b.columns) + " |",
                     "|" + "|".join("---" for _ in b.columns) + "|"]
            lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in b.rows]
            if b.caption:
                lines.append(f"\n({b.caption})")
            out.append("\n".join(lines))
        elif isinstance(b, Figure):
            rel = Path(os.path.relpath(os.path.abspath(b.path), os.path.abspath(markdown_dir)))
            out.append(f"![{b.alt}]({rel.as_posix()})\n\n*Reading:* {b.reading}")
    return "\n\n".join(out) + "\n"


CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; max-width: 1100px;
       margin: 2em auto; padding: 0 1em; color: #1b1f23; line-height: 1.45; background: #fff; }
h1 { border-bottom: 2px solid #d0d7de; padding-bottom: .3em; }
h2 { border-bottom: 1px solid #d0d7de; padding-bottom: .2em; margin-top: 2em; }
table { border-collapse: collapse; margin: 1em 0; font-size: .9em; }
th, td { border: 1px solid #d0d7de; padding: .3em .6em; text-align: right; }
th { background: #f6f8fa; }
td:first-child, th:first-child { text-align: left; }
figure { margin: 1em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #eaeef2; }
figcaption, p.reading { font-style: italic; color: #374151; }
p.missing { background: #fff4e5; border-left: 4px solid #d97706; padding: .5em .8em;
            font-weight: bold; color: #7c2d12; }
nav a { margin-right: 1em; }
.caption { font-size: .85em; color: #57606a; }
"""

IMAGE_CHECK_SCRIPT = """
window.addEventListener('load', function () {
  var imgs = document.images, ok = 0;
  for (var i = 0; i < imgs.length; i++) {
    if (imgs[i].complete && imgs[i].naturalWidth > 0) { ok++; }
  }
  document.body.setAttribute('data-images', String(imgs.length));
  document.body.setAttribute('data-loaded', String(ok));
});
"""


def _inline_md(text: str) -> str:
    """Escape, then render ``**bold**`` (the only inline markup the blocks use)."""
    esc = _html.escape(text, quote=False)
    return re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", esc)


def render_html(blocks: list[Block], title: str) -> str:
    body: list[str] = []
    nav = [b for b in blocks if isinstance(b, Heading) and b.level == 2]
    for b in blocks:
        if isinstance(b, Heading):
            anchor = b.anchor or _slug(b.text)
            body.append(f'<h{b.level} id="{_html.escape(anchor)}">{_html.escape(b.text)}'
                        f'</h{b.level}>')
            if b.level == 1 and nav:
                links = " ".join(f'<a href="#{_html.escape(h.anchor or _slug(h.text))}">'
                                 f"{_html.escape(h.text)}</a>" for h in nav)
                body.append(f"<nav>{links}</nav>")
        elif isinstance(b, Para):
            cls = f' class="{b.kind}"' if b.kind != "text" else ""
            prefix = "<strong>Reading:</strong> " if b.kind == "reading" else ""
            body.append(f"<p{cls}>{prefix}{_inline_md(b.text)}</p>")
        elif isinstance(b, Bullets):
            body.append("<ul>" + "".join(f"<li>{_inline_md(i)}</li>" for i in b.items) + "</ul>")
        elif isinstance(b, Table):
            head = "".join(f"<th>{_html.escape(c)}</th>" for c in b.columns)
            rows = "".join("<tr>" + "".join(f"<td>{_inline_md(c)}</td>" for c in row) + "</tr>"
                           for row in b.rows)
            cap = f'<p class="caption">({_html.escape(b.caption)})</p>' if b.caption else ""
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
                        + cap)
        elif isinstance(b, Figure):
            uri = "data:image/png;base64," + base64.b64encode(b.data).decode("ascii")
            body.append(f'<figure id="fig-{_html.escape(b.key)}"><img src="{uri}" '
                        f'alt="{_html.escape(b.alt)}"><figcaption><strong>Reading:</strong> '
                        f"{_inline_md(b.reading)}</figcaption></figure>")
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>{_html.escape(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
            + "\n".join(body)
            + f"\n<script>{IMAGE_CHECK_SCRIPT}</script>\n</body>\n</html>\n")


def build_report(inputs: ReportInputs) -> tuple[str, str]:
    """The report as ``(markdown, html)``: a pure function of ``inputs``."""
    blocks = report_blocks(inputs)
    return render_markdown(blocks, inputs.markdown_dir), render_html(blocks, inputs.title)


def write_report(inputs: ReportInputs, markdown_path: str | os.PathLike,
                 html_path: str | os.PathLike) -> dict[str, Any]:
    """Build and write both files atomically; returns a small summary."""
    from xlrm.io import atomic_path

    md, page = build_report(inputs)
    with atomic_path(markdown_path) as tmp:
        tmp.write_text(md, encoding="utf-8")
    with atomic_path(html_path) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return {"missing": [getattr(inputs.paths, k) for k in inputs.missing()],
            "figures": sum(1 for k, kind in INPUT_KINDS.items()
                           if kind == "png" and getattr(inputs, k) is not None),
            "markdown_bytes": len(md.encode("utf-8")), "html_bytes": len(page.encode("utf-8"))}

