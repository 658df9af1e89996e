"""One document structure, rendered to Markdown and to a self-contained HTML page."""

import pandas as pd

from cnnsweep.document import (
    Code,
    Document,
    Heading,
    Image,
    Items,
    Paragraph,
    Table,
    to_html,
    to_markdown,
)


def document(tmp_path):
    png = tmp_path / "loss.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\nfake")
    doc = Document("a <title>")
    doc.add(Paragraph("Best: x & y."), Code("python run.py -m seed=1,2"), Heading("Settings"),
            Table(pd.DataFrame({"setting": ["a|b", "c"], "mean": [0.912345, float("nan")]}),
                  sortable=True),
            Image(png, "Training loss"), Items(["run 1: failed. boom"]))
    return doc


def test_markdown_and_html_say_the_same_things(tmp_path):
    doc = document(tmp_path)
    md, html = to_markdown(doc), to_html(doc)
    assert md.startswith("# a <title>\n") and "<h1>a &lt;title&gt;</h1>" in html
    assert "Best: x & y." in md and "Best: x &amp; y." in html
    assert "```\npython run.py -m seed=1,2\n```" in md and "<pre><code>python run.py" in html
    assert "0.9123" in md and "0.9123" in html  # numbers to 4 significant digits
    assert "nan" not in md.lower() and ">nan<" not in html.lower()  # missing values: empty
    assert "a\\|b" in md  # a pipe does not break the Markdown table
    assert "![loss](loss.png)" in md and 'src="data:image/png;base64,' in html
    assert "- run 1: failed. boom" in md and "<li>run 1: failed. boom</li>" in html
    assert 'class="dataframe sortable"' in html and "<script>" in html
    assert "http://" not in html and "https://" not in html  # one offline file


def test_a_wide_table_scrolls_in_its_own_box_and_large_numbers_print_whole():
    doc = Document("t")
    doc.add(Table(pd.DataFrame({"run": ["x" * 300], "images_per_second": [11650.4],
                                "seconds": [0.49213]})))
    md, html = to_markdown(doc), to_html(doc)
    assert "11650" in md and "e+04" not in md and "0.4921" in md
    assert '<div class="wide"><table' in html and "div.wide{overflow-x:auto" in html
