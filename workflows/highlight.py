"""WDL source for reading: highlighted by Pygments (which has no WDL lexer) and compared line by line."""
import difflib
from dataclasses import dataclass

from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexer import RegexLexer, bygroups, include, words
from pygments.token import Comment, Keyword, Name, Number, Operator, Punctuation, String, Text, Whitespace

from django.utils.safestring import SafeString, mark_safe

MAX_DIFF_LINES = 20_000  # a side; past this a diff costs more than it shows


class WdlLexer(RegexLexer):
    """WDL draft-2, 1.0 and 1.1: keywords, types, strings with ~{} and ${} placeholders, commands, comments."""

    name = "WDL"
    aliases = ["wdl"]
    filenames = ["*.wdl"]

    tokens = {
        "root": [
            (r"\s+", Whitespace),
            (r"#.*$", Comment.Single),
            (r"(version)(\s+)(\S+)", bygroups(Keyword.Namespace, Whitespace, Name.Constant)),
            (r"(import)(\b)", bygroups(Keyword.Namespace, Text)),
            (r"(workflow|task|struct)(\s+)([A-Za-z_]\w*)", bygroups(Keyword.Declaration, Whitespace, Name.Class)),
            (r"(call)(\s+)([A-Za-z_][\w.]*)", bygroups(Keyword, Whitespace, Name.Function)),
            (r"(command)(\s*)(<<<)", bygroups(Keyword, Whitespace, String.Heredoc), "heredoc"),
            (r"(command)(\s*)(\{)", bygroups(Keyword, Whitespace, String.Heredoc), "braced"),
            (words(("input", "output", "runtime", "meta", "parameter_meta", "requirements", "hints", "scatter",
                    "if", "then", "else", "in", "as", "alias", "after", "object", "null", "None"),
                   suffix=r"\b"), Keyword),
            (words(("true", "false"), suffix=r"\b"), Keyword.Constant),
            (words(("Array", "Map", "Pair", "Object", "File", "Directory", "String", "Int", "Float", "Boolean"),
                   suffix=r"\b"), Keyword.Type),
            (r"[A-Za-z_]\w*(?=\s*\()", Name.Builtin),
            (r"[A-Za-z_]\w*", Name),
            (r"-?\d+\.\d*([eE][+-]?\d+)?|-?\d+[eE][+-]?\d+", Number.Float),
            (r"-?\d+", Number.Integer),
            (r'"', String.Double, "dq"),
            (r"'", String.Single, "sq"),
            (r"==|!=|<=|>=|&&|\|\||[-+*/%<>=!?]", Operator),
            (r"[{}()\[\],:.]", Punctuation),
            (r".", Text),
        ],
        "placeholder": [
            (r"[~$]\{", String.Interpol, "expression"),
        ],
        "expression": [
            (r"\}", String.Interpol, "#pop"),
            include("root"),
        ],
        "dq": [
            include("placeholder"),
            (r'\\.', String.Escape),
            (r'"', String.Double, "#pop"),
            (r'[^"\\~$]+|[~$]', String.Double),
        ],
        "sq": [
            include("placeholder"),
            (r"\\.", String.Escape),
            (r"'", String.Single, "#pop"),
            (r"[^'\\~$]+|[~$]", String.Single),
        ],
        "heredoc": [
            (r"~\{", String.Interpol, "expression"),
            (r">>>", String.Heredoc, "#pop"),
            (r"[^~>]+|[~>]", String.Heredoc),
        ],
        "braced": [
            include("placeholder"),
            (r"\}", String.Heredoc, "#pop"),
            (r"[^~${}]+|[~$]", String.Heredoc),
            (r"\{", String.Heredoc, "braced"),  # a brace the shell opened is closed by the shell
        ],
    }


_LEXER = WdlLexer(stripnl=False, ensurenl=False)


def wdl_lines(source: str) -> list[SafeString]:
    """Return the source highlighted, one HTML fragment a line (Pygments escapes the text and closes
    every span at the end of its line, so a line stands alone)."""
    html = highlight(source, _LEXER, HtmlFormatter(nowrap=True, classprefix="wdl-"))
    return [mark_safe(line) for line in html.split("\n")[:len(source.splitlines()) or 1]]


@dataclass(frozen=True)
class DiffLine:
    """One row of a side-by-side diff: the old and new line numbers and text (None where a side has none)."""

    kind: str  # "same", "changed", "removed", "added", "skipped"
    old_number: int | None
    old: SafeString | None
    new_number: int | None
    new: SafeString | None


def wdl_diff(old: str, new: str, *, context: int = 3) -> list[DiffLine]:
    """Return a side-by-side diff of two WDL sources, highlighted, with unchanged stretches folded."""
    old_lines, new_lines = old.splitlines(), new.splitlines()
    if len(old_lines) > MAX_DIFF_LINES or len(new_lines) > MAX_DIFF_LINES:
        raise ValueError(f"a version has more than {MAX_DIFF_LINES:,} lines: too long to compare here")
    old_html, new_html = wdl_lines("\n".join(old_lines)), wdl_lines("\n".join(new_lines))
    rows: list[DiffLine] = []
    matcher = difflib.SequenceMatcher(a=old_lines, b=new_lines, autojunk=False)
    for group in matcher.get_grouped_opcodes(context):
        if rows or group[0][1] > 0:
            rows.append(DiffLine("skipped", None, None, None, None))
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                rows += [DiffLine("same", i + 1, old_html[i], j + 1, new_html[j])
                         for i, j in zip(range(i1, i2), range(j1, j2))]
                continue
            pairs = max(i2 - i1, j2 - j1)
            for k in range(pairs):
                i, j = i1 + k, j1 + k
                left = (i + 1, old_html[i]) if i < i2 else (None, None)
                right = (j + 1, new_html[j]) if j < j2 else (None, None)
                kind = "changed" if left[0] and right[0] else ("removed" if left[0] else "added")
                rows.append(DiffLine(kind, *left, *right))
    if rows and group[-1][2] < len(old_lines):
        rows.append(DiffLine("skipped", None, None, None, None))
    return rows
