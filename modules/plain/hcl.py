"""Terraform JSON configuration -> HCL text in `terraform fmt` layout.

The JSON syntax cannot tell a nested block from an argument that holds an object or a list of objects
(`environment { variables = {...} }` vs `tags = {...}`); the provider schema can (`schema.BlockSchema`).
Strings of the JSON syntax are templates already (`${...}`, `$${` escapes), so a value that is exactly one
interpolation becomes a bare expression and any other string a quoted template (or a heredoc when it has
several lines and ends with a newline).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
INDENT = "  "
META_BLOCKS = frozenset({"lifecycle", "provisioner", "connection", "dynamic"})
LIFECYCLE: dict[str, Any] = {"precondition": {}, "postcondition": {}}
LEADING = ("count", "for_each", "provider", "region")  # first, as hand-written modules have them
TRAILING = ("tags", "depends_on")

BlockSchema = Mapping[str, Any]  # nested block name -> its own BlockSchema


def _scan_string(text: str, i: int) -> int:
    """Index past the quoted string starting at text[i] == '"' inside an expression."""
    i += 1
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] == '"':
            return i + 1
        if text.startswith(("$${", "%%{"), i):
            i += 3
            continue
        if text.startswith(("${", "%{"), i):
            i = _scan_code(text, i + 2)
            continue
        i += 1
    raise ValueError(f"unterminated string in {text!r}")


def _scan_code(text: str, i: int) -> int:
    """Index past the `}` that closes the interpolation whose code starts at i."""
    depth = 0
    while i < len(text):
        char = text[i]
        if char == '"':
            i = _scan_string(text, i)
            continue
        if char == "{":
            depth += 1
        elif char == "}":
            if depth == 0:
                return i + 1
            depth -= 1
        i += 1
    raise ValueError(f"unterminated interpolation in {text!r}")


def sole_expression(text: str) -> str | None:
    """The code of `text` when it is exactly one `${...}` interpolation, else None."""
    if not text.startswith("${"):
        return None
    end = _scan_code(text, 2)
    return text[2 : end - 1] if end == len(text) else None


def literal(template: str) -> str | None:
    """The text a template with no `${...}`/`%{...}` code stands for (its `$${`/`%%{` escapes undone), or
    None when it holds code."""
    out, i = [], 0
    while i < len(template):
        if template.startswith(("$${", "%%{"), i):
            out.append(template[i + 1 : i + 3])
            i += 3
        elif template.startswith(("${", "%{"), i):
            return None
        else:
            out.append(template[i])
            i += 1
    return "".join(out)


def quoted(template: str) -> str:
    """A JSON-syntax template as an HCL quoted template: literal parts escaped, `${...}`/`%{...}` code and
    the `$${`/`%%{` escapes kept as they are."""
    out, i = [], 0
    escapes = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}
    while i < len(template):
        if template.startswith(("$${", "%%{"), i):
            out.append(template[i : i + 3])
            i += 3
        elif template.startswith(("${", "%{"), i):
            end = _scan_code(template, i + 2)
            code = template[i + 2 : end - 1]
            items = _clean(_parse(code, 0, None)[0]) if template[i] == "$" else []
            out.append(template[i : i + 2] + (_inline_item(items[0]) if len(items) == 1 else code) + "}")
            i = end
        else:
            out.append(escapes.get(template[i], template[i]))
            i += 1
    return '"' + "".join(out) + '"'


def _as_format(template: str) -> str | None:
    """A template whose interpolations hold object or tuple constructors as `format(...)`: some HCL
    readers (checkov's parser) cannot read `{ ... }` inside a quoted template; Terraform reads both alike."""
    literal, arguments, i = [], [], 0
    while i < len(template):
        if template.startswith(("$${", "%%{"), i):
            literal.append(template[i : i + 3])
            i += 3
        elif template.startswith("%{", i):
            return None
        elif template.startswith("${", i):
            end = _scan_code(template, i + 2)
            arguments.append(template[i + 2 : end - 1].strip())
            literal.append("%s")
            i = end
        else:
            literal.append("%%" if template[i] == "%" else template[i])
            i += 1
    if not any("{" in argument or "[" in argument for argument in arguments):
        return None
    return f"format({quoted(''.join(literal))}, {', '.join(arguments)})"


def _heredoc_marker(text: str) -> str:
    marker = "EOT"
    while any(line.strip() == marker for line in text.splitlines()):
        marker += "X"
    return marker


def key(name: str) -> str:
    return name if IDENTIFIER.match(name) else quoted(name)


WIDTH = 110
CLOSERS = {"{": "}", "[": "]", "(": ")"}


@dataclass
class _Container:
    opener: str
    items: list[list[str | _Container]]  # split at top-level commas; each item: raw text and containers

    @property
    def closer(self) -> str:
        return CLOSERS[self.opener]


def _parse(code: str, i: int, closer: str | None) -> tuple[list[list[str | _Container]], int]:
    """The items of a container's content starting at code[i], up to `closer` (None: the end)."""
    items: list[list[str | _Container]] = [[]]
    raw = ""
    while i < len(code):
        char = code[i]
        if char == '"':
            end = _scan_string(code, i)
            raw += code[i:end]
            i = end
            continue
        if char in CLOSERS:
            if raw:
                items[-1].append(raw)
                raw = ""
            nested, i = _parse(code, i + 1, CLOSERS[char])
            items[-1].append(_Container(char, nested))
            continue
        if closer is not None and char == closer:
            if raw:
                items[-1].append(raw)
            return items, i + 1
        if char == "," and closer is not None:
            if raw:
                items[-1].append(raw)
            raw = ""
            items.append([])
            i += 1
            continue
        raw += char
        i += 1
    if raw:
        items[-1].append(raw)
    return items, i


def _clean(items: list[list[str | _Container]]) -> list[list[str | _Container]]:
    """Items with outer whitespace trimmed and empty ones (a trailing comma) dropped."""
    cleaned = []
    for item in items:
        parts = list(item)
        if parts and isinstance(parts[0], str):
            parts[0] = parts[0].lstrip()
        if parts and isinstance(parts[-1], str):
            parts[-1] = parts[-1].rstrip()
        parts = [part for part in parts if part != ""]
        if parts:
            cleaned.append(parts)
    return cleaned


def _inline(part: str | _Container) -> str:
    if isinstance(part, str):
        return part
    items = [_inline_item(item) for item in _clean(part.items)]
    if part.opener == "{":
        return "{ " + ", ".join(items) + " }" if items else "{}"
    return part.opener + ", ".join(items) + part.closer


def _inline_item(item: list[str | _Container]) -> str:
    return "".join(_inline(part) for part in item)


def _object_key(item: list[str | _Container]) -> tuple[str, list[str | _Container]] | None:
    """(key, value parts) of an object item `key = value`, when its first raw part holds the `=`."""
    first = item[0]
    if not isinstance(first, str):
        return None
    match = re.match(r'^("(?:[^"\\]|\\.)*"|[A-Za-z_][A-Za-z0-9_-]*)\s*=(?![=>])\s*', first)
    if not match:
        return None
    rest = first[match.end() :]
    return match.group(1), ([rest] if rest else []) + item[1:]


def _multiline(part: _Container, indent: int) -> str:
    pad = INDENT * (indent + 1)
    items = _clean(part.items)
    if part.opener == "{" and all(_object_key(item) for item in items):
        pairs = []
        for item in items:
            found = _object_key(item)
            assert found is not None
            name, value = found
            pairs.append((name, _render_item(value, indent + 1, len(pad) + len(name) + 3)))
        lines = _aligned(pairs, pad)
    else:
        lines = [f"{pad}{_render_item(item, indent + 1, len(pad))},\n" for item in items]
    return part.opener + "\n" + "".join(lines) + INDENT * indent + part.closer


def _render_item(item: list[str | _Container], indent: int, column: int) -> str:
    """An item inline when it fits in WIDTH, else with its long `{...}`/`[...]` containers on several lines
    (for-expressions stay inline)."""
    text = _inline_item(item)
    if column + len(text) <= WIDTH:
        return text
    out: list[str] = []
    for part in item:
        inline = _inline(part)
        breakable = (
            isinstance(part, _Container)
            and part.opener in "{["
            and not (part.opener == "[" and out and re.search(r"[\w\])]$", out[-1]))  # an index: x[0]
            and _clean(part.items)
            and not _inline_item(_clean(part.items)[0]).startswith("for ")
        )
        if breakable and len(inline) > 2 and column + len(inline) > WIDTH:
            assert isinstance(part, _Container)
            out.append(_multiline(part, indent))
        elif isinstance(part, _Container) and part.opener == "(" and column + len(inline) > WIDTH:
            inner = [_render_item(i, indent, column) for i in _clean(part.items)]
            out.append("(" + ", ".join(inner) + ")")
        else:
            out.append(inline)
        column += len(out[-1].rsplit("\n", 1)[-1]) if "\n" not in out[-1] else 0
    return "".join(out)


def format_code(code: str, indent: int = 0, column: int = 0) -> str:
    """An expression's code laid out for reading: long object and tuple constructors on several lines."""
    items, _ = _parse(code, 0, None)
    [item] = _clean(items) or [[code]]
    return _render_item(item, indent, column)


def expression(value: Any, indent: int = 0, column: int = 0) -> str:
    """One value as an HCL expression (may span lines; continuation lines indented for `indent`)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    if isinstance(value, str):
        code = sole_expression(value)
        if code is not None:
            return format_code(code, indent, column)
        formatted = _as_format(value)
        if formatted is not None:
            return format_code(formatted, indent, column)
        if "\n" in value.rstrip("\n") and value.endswith("\n"):
            marker = _heredoc_marker(value)
            return f"<<{marker}\n{value}{marker}"
        return quoted(value)
    pad = INDENT * (indent + 1)
    if isinstance(value, list | tuple):
        items = [expression(item, indent + 1) for item in value]
        one_line = "[" + ", ".join(items) + "]"
        if not items or ("\n" not in one_line and len(one_line) <= 80):
            return one_line
        return "[\n" + "".join(f"{pad}{item},\n" for item in items) + INDENT * indent + "]"
    if isinstance(value, dict):
        if not value:
            return "{}"
        lines = _attribute_lines([(key(k), v) for k, v in value.items()], indent + 1)
        return "{\n" + "".join(lines) + INDENT * indent + "}"
    raise TypeError(f"no HCL form for {value!r}")


def _attribute_lines(pairs: Sequence[tuple[str, Any]], indent: int) -> list[str]:
    """`name = value` lines; the `=` of consecutive one-line attributes aligned as `terraform fmt` does."""
    rendered = [
        (name, expression(value, indent, len(INDENT * indent) + len(name) + 3)) for name, value in pairs
    ]
    return _aligned(rendered, INDENT * indent)


def _aligned(rendered: Sequence[tuple[str, str]], pad: str) -> list[str]:
    """`name = text` lines at `pad`: the `=` of consecutive one-line values aligned, a multi-line value
    aligned with nothing (as `terraform fmt` does); a heredoc counts as one line (its `<<EOT` line aligns)."""
    lines: list[str] = []
    group: list[tuple[str, str]] = []

    def flush() -> None:
        width = max((len(name) for name, _ in group), default=0)
        lines.extend(f"{pad}{name.ljust(width)} = {text}\n" for name, text in group)
        group.clear()

    for name, text in rendered:
        if "\n" in text and not text.startswith("<<"):
            flush()
            lines.append(f"{pad}{name} = {text}\n")
        else:
            group.append((name, text))
    flush()
    return lines


def block(
    header: Sequence[str], body: Mapping[str, Any], schema: BlockSchema | None = None, indent: int = 0
) -> str:
    """One block: `type "label" ... {` body `}`; keys named as nested blocks by `schema` become blocks."""
    schema = schema or {}
    pad = INDENT * indent
    labels = " ".join([header[0], *(quoted(label) for label in header[1:])])
    meta: list[tuple[str, Any]] = []
    attributes: list[tuple[str, Any]] = []
    trailing: list[tuple[str, Any]] = []
    blocks: list[tuple[str, Any]] = []
    for name, value in body.items():
        is_block = name in schema or name in META_BLOCKS
        if is_block and isinstance(value, dict | list):
            blocks.append((name, value))
        elif name in LEADING:
            meta.append((name, value))
        elif name == "depends_on":  # references, never strings
            trailing.append((name, [v if sole_expression(v) else f"${{{v}}}" for v in value]))
        elif header[0] == "lifecycle" and name == "ignore_changes" and isinstance(value, list):
            attributes.append((name, [v if sole_expression(v) else f"${{{v}}}" for v in value]))  # bare
        elif name in TRAILING:
            trailing.append((name, value))
        else:
            attributes.append((name, value))
    meta.sort(key=lambda pair: LEADING.index(pair[0]))
    blocks.sort(key=lambda pair: pair[0] == "lifecycle")
    parts: list[str] = []
    for group in (meta, attributes, trailing):
        if group:
            if parts:
                parts.append("\n")
            parts += _attribute_lines(group, indent + 1)
    for name, value in blocks:
        if name == "dynamic":  # dynamic "label" { for_each, content { ... } }, one per label
            for label, item in value.items():
                if parts:
                    parts.append("\n")
                content = {"content": item["content"]} if "content" in item else {}
                rest = {k: v for k, v in item.items() if k != "content"}
                parts.append(block(["dynamic", label], {**rest, **content}, {"content": {}}, indent + 1))
            continue
        for item in value if isinstance(value, list) else [value]:
            if parts:
                parts.append("\n")
            nested = LIFECYCLE if name == "lifecycle" else schema.get(name) or {}
            parts.append(block([name], item, nested, indent + 1))
    if not parts:
        return f"{pad}{labels} {{}}\n"
    return f"{pad}{labels} {{\n" + "".join(parts) + f"{pad}}}\n"


def _net_brackets(line: str) -> int:
    net, i = 0, 0
    while i < len(line):
        if line[i] == '"':
            i = _scan_string(line, i)
            continue
        net += {"{": 1, "[": 1, "(": 1, "}": -1, "]": -1, ")": -1}.get(line[i], 0)
        i += 1
    return net


def reindent(text: str) -> str:
    """Leading indentation as `terraform fmt` (hclwrite) sets it: a line whose brackets open more than they
    close indents the lines after it one level, whatever the number of brackets; closers dedent."""
    out: list[str] = []
    indents: list[int] = []
    heredoc: str | None = None
    for line in text.split("\n"):
        if heredoc is not None:
            out.append(line)
            if line.strip() == heredoc:
                heredoc = None
            continue
        stripped = line.strip()
        net = _net_brackets(stripped) if stripped and not stripped.startswith("#") else 0
        if net < 0:
            closed = -net
            while closed > 0 and indents:
                if closed >= indents[-1]:
                    closed -= indents.pop()
                else:
                    indents[-1] -= closed
                    closed = 0
        out.append(INDENT * len(indents) + stripped if stripped else "")
        if net > 0:
            indents.append(net)
        if opener := re.search(r"<<-?([A-Za-z_][A-Za-z0-9_-]*)$", stripped):
            heredoc = opener.group(1)
    return "\n".join(out)


def document(blocks: Iterable[str], header: str) -> str:
    """Blocks separated by one blank line, under a comment header, indented as `terraform fmt` does."""
    comment = "".join(f"# {line}".rstrip() + "\n" for line in header.splitlines())
    return comment + "\n" + reindent("\n".join(blocks))


def blocks_of(
    kind: str,
    section: Mapping[str, Mapping[str, Any]],
    schema_of: Callable[[str], BlockSchema],
) -> list[str]:
    """Every `resource`/`data` block of a configuration section (type -> name -> body)."""
    return [
        block([kind, type_name, name], body, schema_of(type_name))
        for type_name, bodies in section.items()
        for name, body in bodies.items()
    ]
