"""Drop repeated ``<script>`` entries from every page.

In this Jupyter Book build, sphinx-thebe and sphinx-togglebutton register their inline
configuration scripts twice, so each page declares ``const THEBE_JS_URL`` twice and the browser
reports "Identifier 'THEBE_JS_URL' has already been declared" on every page (the browser check
counts page errors). This keeps the first of any identical scripts.
"""


def _script_key(script):
    filename = getattr(script, "filename", script) or ""  # an inline script: None or ""
    attributes = getattr(script, "attributes", {})
    return str(filename), tuple(sorted((k, str(v)) for k, v in attributes.items()))


def _dedupe(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for script in scripts:
        key = _script_key(script)
        if key not in seen:
            seen.add(key)
            unique.append(script)
    scripts[:] = unique  # in place: later handlers add to the same list


def setup(app):
    """Sphinx entry point."""
    app.connect("html-page-context", _dedupe, priority=100)  # before per-page scripts
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
