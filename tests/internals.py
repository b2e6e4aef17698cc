"""What no page or API answer shows a person: Python's own words."""

import re

INTERNALS = re.compile(
    r"<[^>]* object at|InMemoryUploadedFile|Traceback|exc_type|params\.\w|Error: |"
    r"[A-Z][a-z]+(Error|Exception)\b"
)


def internals_in(text: str) -> list[str]:
    return [match.group(0) for match in INTERNALS.finditer(text)]
