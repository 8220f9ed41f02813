"""Sphinx configuration of fastntk's documentation site.

Build: ``python -m pip install -e ".[docs]" && python -m sphinx -W -b html docs docs/_build/html``
(``tox -e docs``). The gallery (``examples/plot_*.py``) runs at build time.
"""

import os
import sys

import fastntk

sys.path.insert(0, os.path.dirname(__file__))

project = "fastntk"
author = "the fastntk developers"
copyright = "2026, the fastntk developers"
release = version = fastntk.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx-mathjax-offline",  # MathJax served from the site itself: maths renders offline
    "sphinx.ext.viewcode",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]

# The Markdown pages write maths as $...$ and $$...$$.
myst_enable_extensions = ["dollarmath", "amsmath"]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build"]

autosummary_generate = True
autodoc_default_options = {"members": True, "inherited-members": False}
autodoc_member_order = "bysource"
# numpydoc lists every public method of a class; the reference pages document them in place.
numpydoc_show_class_members = False
numpydoc_validation_checks = set()

html_theme = "furo"
html_title = f"fastntk {release}"

sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "gallery",
    "filename_pattern": r"/plot_",
    "ignore_pattern": r"^(?!plot_)",  # the other scripts are command-line programs
    "download_all_examples": False,
    "within_subsection_order": "FileNameSortKey",
    "remove_config_comments": True,
}
