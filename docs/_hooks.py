"""MkDocs hook: render the Sphinx roles used in rnnkit's docstrings as plain code.

The docstrings are Google style with the occasional Sphinx cross-reference role
(:func:`rnnkit.sampling.generate`); mkdocstrings renders those as ":func:" followed by code.
Dropping the role leaves the code span.
"""

from __future__ import annotations

import re

_ROLE = re.compile(r":(?:py:)?(?:func|class|meth|mod|attr|data|obj|exc|const):(?=<code>)")


def on_page_content(html: str, **kwargs: object) -> str:
    return _ROLE.sub("", html)
