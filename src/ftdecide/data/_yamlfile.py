"""Reading a YAML file people write by hand (compare configs, assess answers): every key's line,
and no silently repeated key.

PyYAML keeps the last of two equal keys without a word, so a config that sets ``shots`` twice
runs with whichever came last. :func:`read_yaml` refuses that, naming the key and both lines,
and returns a map of every dotted key to its line, so a later error about a key's value can
point at the line to fix (``compare.yaml:7: shots: expected a whole number``).
"""

from __future__ import annotations

from typing import Any, Callable

from ftdecide.errors import DataError, FtdecideError

__all__ = ["read_yaml"]

ErrorFactory = Callable[..., FtdecideError]


def _walk(node: Any, prefix: str, lines: dict[str, int], path: str,
          error: ErrorFactory) -> None:
    import yaml

    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                continue
            name = str(key_node.value)
            key = f"{prefix}.{name}" if prefix else name
            line = key_node.start_mark.line + 1
            if name in seen and key_node.tag != "tag:yaml.org,2002:merge":
                raise error(f"{key} is given twice, on lines {seen[name]} and {line} (YAML "
                            "would keep the second without a word)", path=path, line=line,
                            key=key, hint=f"keep one {name}: and delete the other")
            seen[name] = line
            lines.setdefault(key, line)
            _walk(value_node, key, lines, path, error)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, f"{prefix}[{i}]", lines, path, error)


def read_yaml(text: str, path: str, *, error: ErrorFactory = DataError
              ) -> tuple[Any, dict[str, int]]:
    """The data in ``text`` (YAML; JSON is YAML too) and the 1-based line of every dotted key.

    A syntax error or a repeated key raises ``error`` (a :class:`DataError` by default)
    with ``path``, the line and, for a repeated key, the key.
    """
    import yaml

    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        lines: dict[str, int] = {}
        if root is not None:
            _walk(root, "", lines, path, error)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        raise error(f"invalid YAML: {problem}", path=path,
                    line=mark.line + 1 if mark is not None else None) from None
    return data, lines
