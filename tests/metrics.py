"""Reading a `/metrics` answer (Prometheus' text format) in tests."""

import re
from collections.abc import Mapping


def sample(
    text: str, name: str, labels: Mapping[str, str] | None = None, *, missing: float | None = None
) -> float:
    """The value of the series `name{labels}` in `text`. A series not there yet is `missing`
    when given (a labelled counter appears at its first increment), else a failed assert."""
    selector = ",".join(f'{key}="{value}"' for key, value in sorted((labels or {}).items()))
    series = f"{name}{{{selector}}}" if labels else name
    found = re.search(rf"^{re.escape(series)} (\S+)$", text, re.MULTILINE)
    if found is None and missing is not None:
        return missing
    assert found, f"no {series} in:\n{text}"
    return float(found.group(1))
