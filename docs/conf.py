"""Sphinx configuration: ``make docs`` builds the site into build/docs, warnings as errors.

taskhub is imported from this tree, not from an installed copy, with the demo project's
settings, so autodoc and the directives of ``_ext/taskhub_docs.py`` read the code being
documented. Nothing is fetched from the network (no intersphinx).
"""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "docs" / "_ext"))
os.environ["DJANGO_SETTINGS_MODULE"] = "project.settings"
# The demo's settings make folders under TASKHUB_VAR_DIR: keep them out of var/.
os.environ["TASKHUB_VAR_DIR"] = str(ROOT / "build" / "docs-var")


def setup_django() -> str:
    """Django set up with the demo's settings; taskhub's version, once it is certain that
    taskhub is this tree's."""
    import django

    django.setup()
    import taskhub

    if Path(taskhub.__file__).resolve().parent != ROOT / "taskhub":
        raise RuntimeError(f"taskhub imported from {taskhub.__file__}, not from {ROOT}")
    return taskhub.__version__


project = "taskhub"
author = "taskhub's authors"
copyright = "taskhub's authors"
release = setup_django()
version = release

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.viewcode",
    "celery.contrib.sphinx",
    "taskhub_docs",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_ext"]
nitpicky = False

myst_enable_extensions = ["colon_fence"]
# Markdown links to headings (``page.md#a-heading``), as GitHub renders them.
myst_heading_anchors = 3

# celery.contrib.sphinx documents tasks with autodoc's class-based implementation.
autodoc_use_legacy_class_based = True
celery_task_prefix = "(task) "
autodoc_member_order = "bysource"
autodoc_typehints = "description"

html_theme = "furo"
html_title = f"taskhub {release}"
