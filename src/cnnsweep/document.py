"""A report as one structure of blocks, rendered both to Markdown and to one self-contained
HTML page (figures embedded, tables sortable by a click on a column header, no network)."""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd


@dataclass(frozen=True)
class Heading:
    text: str
    level: int = 2


@dataclass(frozen=True)
class Paragraph:
    text: str


@dataclass(frozen=True)
class Code:
    text: str  # a command to copy


@dataclass(frozen=True)
class Table:
    frame: pd.DataFrame
    sortable: bool = False


@dataclass(frozen=True)
class Image:
    path: Path  # a PNG beside the report
    caption: str  # its title, above it
    note: str = ""  # what its marks mean, under it


@dataclass(frozen=True)
class Items:
    items: list[str]


Block = Heading | Paragraph | Code | Table | Image | Items


@dataclass
class Document:
    title: str
    blocks: list[Block] = field(default_factory=list)

    def add(self, *blocks: Block) -> None:
        self.blocks.extend(blocks)


def _number(value: float) -> str:
    """4 significant digits; a large number whole (11650, not 1.165e+04)."""
    if pd.isna(value):
        return ""
    return f"{value:.0f}" if 1e4 <= abs(value) < 1e15 else f"{value:.4g}"


def _cells(frame: pd.DataFrame) -> pd.DataFrame:
    """Numbers to 4 significant digits, empty cells for missing values, one line per cell."""
    out = frame.copy()
    for column in out.columns:
        if pd.api.types.is_float_dtype(out[column]):
            out[column] = out[column].map(_number)
    return out.astype(object).where(out.notna(), "").astype(str).map(
        lambda s: s.replace("\n", " ")[:200])


def to_markdown(doc: Document, base: Path | None = None) -> str:
    """`base`: the folder the Markdown file is in (images are linked relative to it); None:
    images beside it."""
    lines = [f"# {doc.title}", ""]
    for block in doc.blocks:
        if isinstance(block, Heading):
            lines += ["#" * block.level + f" {block.text}", ""]
        elif isinstance(block, Paragraph):
            lines += [block.text, ""]
        elif isinstance(block, Code):
            lines += ["```", block.text, "```", ""]
        elif isinstance(block, Table):  # a | in a cell would end it: escaped
            cells = _cells(block.frame).map(lambda v: v.replace("|", "\\|"))
            lines += [cells.to_markdown(index=False), ""]
        elif isinstance(block, Image):
            link = block.path.relative_to(base).as_posix() if base else block.path.name
            lines += [f"### {block.caption}", "", f"![{block.path.stem}]({link})", ""]
            lines += [block.note, ""] if block.note else []
        elif isinstance(block, Items):
            lines += [f"- {item}" for item in block.items] + [""]
    return "\n".join(lines)


STYLE = ("body{font-family:sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;"
         "line-height:1.4}table{border-collapse:collapse;font-size:13px;margin:0.5em 0}"
         "td,th{border:1px solid #ccc;padding:3px 6px;text-align:left}"
         "table.sortable th{cursor:pointer;background:#f3f3f3}"
         "p.note{color:#444;font-size:14px;margin-top:0.2em;max-width:900px;"
         "overflow-wrap:anywhere}"
         "th[data-order=asc]::after{content:' \\25B2'}th[data-order=desc]::after"
         "{content:' \\25BC'}img{max-width:100%}pre{background:#f6f6f6;padding:0.6em;"
         "overflow-x:auto}div.wide{overflow-x:auto;max-width:100%}")
# Click a header: rows sort by that column, numbers as numbers, empty cells last; click again to
# reverse.
SORT_SCRIPT = """
document.querySelectorAll("table.sortable th").forEach(function (th) {
  th.addEventListener("click", function () {
    var table = th.closest("table"), body = table.tBodies[0], col = th.cellIndex;
    var asc = th.dataset.order !== "asc";
    table.querySelectorAll("th").forEach(function (h) { delete h.dataset.order; });
    th.dataset.order = asc ? "asc" : "desc";
    function key(row) {
      var text = row.cells[col].textContent.trim();
      var number = Number(text);
      return text === "" ? null : (isNaN(number) ? text : number);
    }
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = key(a), y = key(b);
      if (x === null || y === null) { return x === y ? 0 : (x === null ? 1 : -1); }
      var order = (typeof x === typeof y) ? (x < y ? -1 : x > y ? 1 : 0)
                                          : (typeof x === "number" ? -1 : 1);
      return asc ? order : -order;
    });
    rows.forEach(function (row) { body.appendChild(row); });
  });
});
"""


def to_html(doc: Document) -> str:
    body = [f"<h1>{html.escape(doc.title)}</h1>"]
    for block in doc.blocks:
        if isinstance(block, Heading):
            body.append(f"<h{block.level}>{html.escape(block.text)}</h{block.level}>")
        elif isinstance(block, Paragraph):
            body.append(f"<p>{html.escape(block.text)}</p>")
        elif isinstance(block, Code):
            body.append(f"<pre><code>{html.escape(block.text)}</code></pre>")
        elif isinstance(block, Table):
            classes = ["sortable"] if block.sortable else []
            # a wide table (long run names) scrolls in its own box, not the whole page
            body.append('<div class="wide">' + _cells(block.frame).to_html(
                index=False, classes=classes, border=0) + "</div>")
        elif isinstance(block, Image):
            data = base64.b64encode(block.path.read_bytes()).decode()
            body += [f"<h3>{html.escape(block.caption)}</h3>",
                     f'<img alt="{html.escape(block.path.stem)}" '
                     f'src="data:image/png;base64,{data}">']
            if block.note:
                body.append(f'<p class="note">{html.escape(block.note)}</p>')
        elif isinstance(block, Items):
            body.append("<ul>" + "".join(f"<li>{html.escape(i)}</li>" for i in block.items)
                        + "</ul>")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>"
            f"{html.escape(doc.title)}</title><style>{STYLE}</style></head><body>"
            f"{''.join(body)}<script>{SORT_SCRIPT}</script></body></html>")
