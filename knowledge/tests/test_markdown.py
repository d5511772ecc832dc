"""render_markdown: Markdown features survive, raw HTML and dangerous URLs do not."""

from __future__ import annotations

import re

import pytest
from django.utils.safestring import SafeString

from knowledge.markdown import render_markdown


def test_markdown_features_render():
    html = render_markdown(
        "## Checks\n\n1. **Stop** the laser\n2. Clean the *lens*\n\n"
        "| code | meaning |\n|---|---|\n| E203 | lens |\n\n"
        "```\nE203 > 3\n```\n\n> note\n\n---\n"
    )
    assert isinstance(html, SafeString)
    for fragment in (
        "<h2>Checks</h2>",
        "<ol>",
        "<li><strong>Stop</strong> the laser</li>",
        "<em>lens</em>",
        "<table>",
        "<th>code</th>",
        "<td>E203</td>",
        "<pre><code>E203 &gt; 3",
        "<blockquote>",
        "<hr>",
    ):
        assert fragment in html


def test_links_get_rel_and_keep_safe_schemes():
    html = render_markdown('[manual](https://example.com/m.pdf "Manual") [mail](mailto:a@b.cn)')
    assert 'href="https://example.com/m.pdf"' in html
    assert 'title="Manual"' in html
    assert 'href="mailto:a@b.cn"' in html
    assert html.count('rel="noopener noreferrer nofollow"') == 2


@pytest.mark.parametrize(
    ("source", "forbidden"),
    [
        ("<script>alert(1)</script>", ["<script", "alert(1)"]),
        ('<img src="x.png" onerror="alert(1)">', ["onerror", "alert"]),
        ("[click](javascript:alert(1))", ["javascript:", "alert"]),
        ('<a href="javascript:alert(1)">x</a>', ["javascript:"]),
        ('<a href="JaVaScRiPt:alert(1)">x</a>', ["javascript", "JaVaScRiPt"]),
        ("[v](vbscript:msgbox(1))", ["vbscript"]),
        ('<iframe src="https://evil.example"></iframe>', ["<iframe", "evil.example"]),
        ("![x](data:image/svg+xml;base64,PHN2Zz4=)", ["data:"]),
        ('<p style="background:url(x)" onclick="x()">t</p>', ["style", "onclick"]),
        ('<svg onload="alert(1)"><circle/></svg>', ["<svg", "onload"]),
        ("<style>body{display:none}</style>", ["<style", "display:none"]),
        ("<form action=/x><input name=a></form>", ["<form", "<input"]),
        ("<!-- secret -->visible", ["secret", "<!--"]),
    ],
)
def test_raw_html_and_dangerous_urls_are_removed(source, forbidden):
    html = render_markdown(source)
    for bad in forbidden:
        assert bad.lower() not in html.lower(), html


def test_attribute_lists_cannot_add_event_handlers():
    html = render_markdown('## Title {: onclick="alert(1)" style="x" }\n\nText\n')
    assert "<h2>Title</h2>" in html
    assert not re.search(r"<[^>]*(onclick|style)", html), html


def test_attributes_outside_the_allowlist_are_dropped():
    html = render_markdown('<a href="https://a.example" target="_blank" class="x" id="y">a</a>')
    assert 'href="https://a.example"' in html
    for bad in ("target=", "class=", "id="):
        assert bad not in html


def test_headings_outside_h2_to_h4_keep_only_their_text():
    html = render_markdown("# Big\n\n###### Small\n")
    assert "<h1" not in html and "<h6" not in html
    assert "Big" in html and "Small" in html


def test_empty_text_renders_empty():
    assert render_markdown("") == ""
    assert render_markdown(None) == ""
