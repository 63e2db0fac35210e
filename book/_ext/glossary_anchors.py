"""Let Markdown links reach glossary entries, e.g. ``[d_model](../book/glossary.md#term-d_model)``.

MyST resolves a link ``page.md#fragment`` only against the page's heading anchors, so a link to
a glossary term's anchor fails the strict build (``-W -n``: "local id not found"). Notebooks are
also read in JupyterLab, where the ``{term}`` role shows as raw text, so they need plain links.

This extension registers the anchor of every glossary term (``term-`` + the term, spaces as
``-``, case kept) as a MyST anchor of its page. Such links then resolve to the exact entry, and a
misspelt anchor still fails the build. Enabled in ``book/_config.yml`` (``local_extensions``).
"""

from docutils import nodes


def _register_term_anchors(app, doctree):
    """Add each ``term`` node's ids to the page's MyST anchors (``myst_slugs``)."""
    env = app.env
    terms = list(doctree.findall(nodes.term))
    if not terms:
        return
    slugs = env.metadata[env.docname].setdefault("myst_slugs", {})
    for term in terms:
        for node_id in term["ids"]:
            slugs.setdefault(node_id, (term.line or 0, node_id, term.astext()))


def setup(app):
    """Sphinx entry point."""
    app.connect("doctree-read", _register_term_anchors)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
