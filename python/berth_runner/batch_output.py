"""What a batch worker answers for the value run() returned (docs/batch.md, "Worker protocol",
items 3 and 4): the success count and, for `append_row`, one output line per returned element.

  * a list or a tuple: one line per element, `str(element)`;
  * a pandas DataFrame: one line per row, its values (as `DataFrame.astype(str)` gives them)
    joined by single spaces, no header and no index;
  * anything else: WrongReturnType.

Line breaks inside an element (`\\r\\n`, `\\r`, `\\n`) become single spaces, so that one element
stays one line of the job's output file.
"""

import sys
from typing import Any, List, Optional, Tuple


class WrongReturnType(TypeError):
    """run() returned something that is neither a list, a tuple nor a pandas DataFrame."""


def one_line(value: Any) -> str:
    text = value if type(value) is str else str(value)
    if "\n" in text or "\r" in text:
        text = text.replace("\r\n", " ").replace("\r", " ").replace("\n", " ")
    return text


def count_and_lines(result: Any, with_lines: bool) -> Tuple[int, Optional[List[str]]]:
    """(items returned, output lines or None when `with_lines` is False) for run()'s `result`.

    Raises WrongReturnType, or what str() of an element raises.
    """
    if isinstance(result, (list, tuple)):
        return len(result), [one_line(v) for v in result] if with_lines else None
    # A DataFrame can only come from a loaded pandas: no import here for scripts without it.
    pandas = sys.modules.get("pandas")
    if pandas is not None and isinstance(result, pandas.DataFrame):
        if not with_lines:
            return len(result), None
        rows = result.astype(str).itertuples(index=False, name=None)
        return len(result), [one_line(" ".join(row)) for row in rows]
    raise WrongReturnType("run() must return a list or a pandas DataFrame, got "
                          f"{type(result).__name__}")
