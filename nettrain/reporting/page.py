"""HTML building blocks: one self-contained page, light and dark themes, no external URL."""

import base64
import html
import math
import struct

from nettrain.reporting.figures import DPI

CSS = """
:root { color-scheme: light dark; --bg: #ffffff; --fg: #1f2328; --muted: #59636e;
  --line: #d1d9e0; --panel: #f6f8fa; --accent: #0969da; --ok: #1a7f37; --warn-bg: #fff8c5;
  --warn-line: #d4a72c; --bad-bg: #ffebe9; --bad-line: #cf222e; --best: #dafbe1; }
@media (prefers-color-scheme: dark) {
  :root { --bg: #0d1117; --fg: #e6edf3; --muted: #9198a1; --line: #3d444d; --panel: #151b23;
    --accent: #4493f8; --ok: #3fb950; --warn-bg: #272115; --warn-line: #9e6a03;
    --bad-bg: #25171c; --bad-line: #f85149; --best: #12261e; }
  img.plot { filter: invert(1) hue-rotate(180deg); }
}
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 1160px; padding: 1.2rem 1.6rem 3rem; background: var(--bg);
  color: var(--fg); font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
h1 { font-size: 1.55rem; margin: 0.2rem 0 0.3rem; }
h2 { font-size: 1.25rem; margin: 2.2rem 0 0.6rem; padding-bottom: 0.25rem;
  border-bottom: 1px solid var(--line); }
h3 { font-size: 1.05rem; margin: 1.4rem 0 0.5rem; }
p, ul { margin: 0.4rem 0; }
code, pre, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
  font-size: 0.86em; }
pre { background: var(--panel); border: 1px solid var(--line); border-radius: 6px;
  padding: 0.7rem 0.9rem; overflow: auto; max-height: 30rem; margin: 0; }
.muted { color: var(--muted); }
nav { margin: 0.6rem 0 1rem; display: flex; flex-wrap: wrap; gap: 0.3rem 1rem; font-size: 0.92em; }
a { color: var(--accent); }
table { border-collapse: collapse; margin: 0.4rem 0 0.8rem; font-size: 0.9em; }
td:first-child { white-space: nowrap; }
th, td { padding: 0.28rem 0.65rem; border-bottom: 1px solid var(--line); text-align: left;
  vertical-align: top; }
th { background: var(--panel); font-weight: 600; white-space: nowrap; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.best td { background: var(--best); }
.scroll { overflow-x: auto; max-width: 100%; }
.tall { max-height: 34rem; overflow-y: auto; }
.grid2 { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); gap: 1.2rem; }
@media (max-width: 900px) { .grid2 { grid-template-columns: minmax(0, 1fr); } }
img.plot { max-width: 100%; height: auto; display: block; margin: 0.4rem 0; }
.note { border-left: 4px solid var(--warn-line); background: var(--warn-bg);
  padding: 0.5rem 0.8rem; margin: 0.5rem 0; border-radius: 0 6px 6px 0; }
.note.bad { border-left-color: var(--bad-line); background: var(--bad-bg); }
.badge { display: inline-block; padding: 0.05rem 0.55rem; border-radius: 1rem; font-size: 0.8em;
  font-weight: 600; border: 1px solid var(--line); vertical-align: middle; }
.badge.finished { color: var(--ok); border-color: var(--ok); }
.badge.interrupted, .badge.unfinished, .badge.running {
  color: var(--warn-line); border-color: var(--warn-line); }
.badge.damaged { color: var(--bad-line); border-color: var(--bad-line); }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 0.15rem 1rem; margin: 0.5rem 0; }
dl.facts dt { color: var(--muted); } dl.facts dd { margin: 0; }
details > summary { cursor: pointer; font-weight: 600; margin: 0.8rem 0 0.4rem; }
article.run { margin-top: 1rem; }
"""


def esc(value):
    return html.escape(str(value), quote=True)


def number(value, digits=4):
    """A table cell for a value: floats to `digits` significant digits, None as empty."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int) or float(value).is_integer() and abs(value) < 1e6:
        return f"{int(value):,}" if abs(value) >= 10_000 else str(int(value))
    return f"{value:.{digits}g}"


def image(data, alt):
    """An <img> with the PNG inline as a data: URI, shown at 96 px per figure inch."""
    width, height = struct.unpack(">II", data[16:24])
    scale = 96 / DPI
    src = base64.b64encode(data).decode("ascii")
    return (f'<img class="plot" alt="{esc(alt)}" width="{round(width * scale)}" '
            f'height="{round(height * scale)}" src="data:image/png;base64,{src}">')


def table(header, rows, numeric=None, best=None, caption=None):
    """A <table>. `numeric` names the right-aligned columns (default: the columns that hold
    only numbers), or is "cells" to align each cell by its own value; `best` is the index of
    a row to highlight. Header entries and cells may be Raw markup."""
    rows = [list(r) for r in rows]
    names = [str(h) for h in header]
    if numeric is None:
        numeric = {names[i] for i in range(len(names))
                   if rows and all(_is_number(r[i]) or r[i] is None for r in rows)}

    def right(name, value):
        return _is_number(value) if numeric == "cells" else name in numeric

    num = ' class="num"'
    head = "".join(f"<th{num if numeric != 'cells' and n in numeric else ''}>{_markup(h)}</th>"
                   for n, h in zip(names, header))
    body = []
    for index, row in enumerate(rows):
        cells = "".join(f'<td class="num">{esc(number(c))}</td>' if right(n, c)
                        else f"<td>{_markup(c)}</td>" for n, c in zip(names, row))
        body.append(f'<tr class="best">{cells}</tr>' if index == best else f"<tr>{cells}</tr>")
    cap = f"<caption>{esc(caption)}</caption>" if caption else ""
    return (f'<div class="scroll"><table>{cap}<thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table></div>")


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _markup(value):
    return value.html if isinstance(value, Raw) else esc(number(value))


class Raw:
    """Markup put into a table cell as it is (already escaped)."""

    def __init__(self, markup):
        self.html = markup

    def __str__(self):
        return self.html


def note(text, bad=False):
    return f'<div class="note{" bad" if bad else ""}">{esc(text)}</div>'


def badge(state):
    return f'<span class="badge {esc(state)}">{esc(state)}</span>'


def facts(pairs):
    items = "".join(f"<dt>{esc(k)}</dt><dd>{v.html if isinstance(v, Raw) else esc(v)}</dd>"
                    for k, v in pairs if v not in (None, ""))
    return f'<dl class="facts">{items}</dl>'


def section(anchor, title, body, level=2):
    return f'<section id="{esc(anchor)}"><h{level}>{esc(title)}</h{level}>{body}</section>'


def document(title, subtitle, nav, body):
    """The whole page. `nav` is a list of (anchor, label) pairs."""
    links = "".join(f'<a href="#{esc(a)}">{esc(label)}</a>' for a, label in nav)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        "<meta name=\"color-scheme\" content=\"light dark\">\n"
        "<link rel=\"icon\" href=\"data:,\">\n"
        f"<title>{esc(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
        f"<header><h1>{esc(title)}</h1><div class=\"muted\">{subtitle}</div>"
        f"<nav>{links}</nav></header>\n{body}\n</body>\n</html>\n"
    )
