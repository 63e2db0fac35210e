"""Author-year labels for the references page: "[Vaswani et al. 2017]" instead of "[VSP+17]".

sphinxcontrib-bibtex labels entries with pybtex's alpha labels unless a formatting style says
otherwise. This registers the pybtex style ``authoryear`` (the ``plain`` style with author-year
labels, "a"/"b" added when two entries would share one); ``book/_config.yml`` selects it with
``bibtex_default_style: authoryear``. A citation ``{cite:p}`vaswani2017attention``` then reads
"[Vaswani et al. 2017]", the same text as the entry it links to.
"""

from collections import Counter

import pybtex.plugin
from pybtex.richtext import Text
from pybtex.style.formatting.plain import Style as PlainStyle
from pybtex.style.labels import BaseLabelStyle


def _last_name(person):
    return Text.from_latex(" ".join(person.last_names)).render_as("text")


def _base_label(entry):
    people = entry.persons.get("author") or entry.persons.get("editor") or []
    year = entry.fields.get("year", "n.d.")
    if not people:
        return f"{entry.key} {year}"
    if len(people) == 1:
        names = _last_name(people[0])
    elif len(people) == 2:
        names = f"{_last_name(people[0])} and {_last_name(people[1])}"
    else:
        names = f"{_last_name(people[0])} et al."
    return f"{names} {year}"


class AuthorYearLabelStyle(BaseLabelStyle):
    """Labels "Name year", "Name and Name year" or "Name et al. year", made unique."""

    def format_labels(self, sorted_entries):
        entries = list(sorted_entries)
        labels = [_base_label(entry) for entry in entries]
        counts = Counter(labels)
        seen = Counter()
        for label in labels:
            if counts[label] > 1:
                seen[label] += 1
                yield f"{label}{'abcdefghijklmnopqrstuvwxyz'[seen[label] - 1]}"
            else:
                yield label


class AuthorYearStyle(PlainStyle):
    """pybtex's ``plain`` formatting with author-year labels."""

    default_label_style = AuthorYearLabelStyle


def setup(app):
    """Sphinx entry point: make the ``authoryear`` style available to sphinxcontrib-bibtex."""
    pybtex.plugin.register_plugin("pybtex.style.formatting", "authoryear", AuthorYearStyle)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
