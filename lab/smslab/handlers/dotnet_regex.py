"""Regexes as .NET (Windows PowerShell 5.1, .NET Framework 4.x) compiles them, run by Python ``re``.

The collection's scripts compile what the controller sends with ``[regex]::new(...)`` / ``-match``. The
lab must refuse what .NET refuses, with .NET's message (``parsing "<pattern>" - <reason>.``), and must
match what .NET matches. Python and .NET differ:

| construct                    | .NET                                   | Python ``re``           |
|------------------------------|----------------------------------------|-------------------------|
| ``(?P<n>..)`` ``(?P=n)``     | Unrecognized grouping construct        | named group, backref    |
| ``(?<n>..)`` ``(?'n'..)``    | named group                            | error / lookbehind      |
| ``\\k<n>`` ``\\k'n'``          | backreference                          | error                   |
| ``\\Z``                       | end, or before a final newline         | very end                |
| ``\\z``                       | very end                               | error (Python < 3.14)   |
| ``(?#..)``                   | comment, ends at the first ``)``       | the same                |
| ``a*+`` (possessive)         | Nested quantifier                      | possessive (3.11+)      |
| ``(?a)`` ``(?L)`` ``(?u)``   | Unrecognized grouping construct        | flags                   |
| ``\\U0001F600`` ``\\N{..}``    | Unrecognized escape sequence           | character               |
| ``\\e``                       | ESC                                    | error                   |

``compile_dotnet`` rejects the .NET errors above and translates the rest to Python. A valid .NET
construct the lab does not simulate (balancing groups, class subtraction, ``\\p{..}``, option ``n``)
raises ``LabUnsupported``, so a test cannot pass by the lab guessing.
"""

from __future__ import annotations

import re

from smslab.handlers import LabUnsupported

__all__ = ["DotnetRegexError", "compile_dotnet"]


class DotnetRegexError(ValueError):
    """What .NET's Regex constructor throws (ArgumentException); ``str()`` is .NET's message."""

    def __init__(self, pattern: str, reason: str):
        super().__init__(f'parsing "{pattern}" - {reason}')


_QUANTIFIER_BRACE = re.compile(r"\{\d+(,\d*)?\}")
_NAME = re.compile(r"[A-Za-z_]\w*|\d+")
_DOTNET_OPTIONS = set("imnsx")


def compile_dotnet(pattern: str, ignore_case: bool = False) -> re.Pattern:
    """``[regex]::new(pattern[, 'IgnoreCase, CultureInvariant'])`` as a Python pattern, or DotnetRegexError."""
    if not isinstance(pattern, str):
        raise TypeError(f"a regex must be a string, got {type(pattern).__name__}")
    translated = _Translator(pattern).run()
    try:
        return re.compile(translated, re.IGNORECASE if ignore_case else 0)
    except re.error as exc:
        raise LabUnsupported(f"lab: the .NET regex {pattern!r} (as Python {translated!r}) cannot be simulated: "
                             f"{exc}") from None


class _Translator:
    def __init__(self, pattern: str):
        self.pattern = pattern
        self.at = 0
        self.out: list[str] = []
        self.after_quantifier = False      # the previous token was a quantifier (or a lazy one)
        self.lazy = False
        self.has_operand = False

    def fail(self, reason: str):
        raise DotnetRegexError(self.pattern, reason)

    def run(self) -> str:
        text = self.pattern
        depth = 0
        while self.at < len(text):
            char = text[self.at]
            if char == "\\":
                self.escape()
            elif char == "[":
                self.char_class()
            elif char == "(":
                depth += self.group_open()
            elif char == ")":
                depth -= 1
                if depth < 0:
                    self.fail("Too many )'s.")
                self.emit(")", 1)
            elif char == "|":
                self.emit("|", 1, operand=False)
            elif char in "*+?":
                self.quantifier(char, 1)
            elif char == "{" and _QUANTIFIER_BRACE.match(text, self.at):
                self.quantifier("{", _QUANTIFIER_BRACE.match(text, self.at).end() - self.at)
            else:
                self.emit(char, 1)
        if depth > 0:
            self.fail("Not enough )'s.")
        return "".join(self.out)

    def emit(self, python: str, consumed: int, quantifier: bool = False, operand: bool = True) -> None:
        self.out.append(python)
        self.at += consumed
        self.after_quantifier = quantifier
        self.has_operand = operand          # something a following quantifier can apply to

    def quantifier(self, char: str, length: int) -> None:
        token = self.pattern[self.at:self.at + length]
        if self.after_quantifier:
            # "?" right after a quantifier makes it lazy; anything else quantifies a quantifier.
            if char == "?" and not self.lazy:
                self.lazy = True
                self.emit("?", 1, quantifier=True)
                return
            self.fail(f"Nested quantifier {char}.")
        if not self.has_operand:
            self.fail("Quantifier {x,y} following nothing.")
        self.lazy = False
        self.emit(token, length, quantifier=True)

    def escape(self) -> None:
        text = self.pattern
        if self.at + 1 >= len(text):
            self.fail("Illegal \\ at end of pattern.")
        char = text[self.at + 1]
        if char == "Z":
            self.emit(r"(?=\n?\Z)", 2)          # .NET \Z: at the end or before a final newline
        elif char == "z":
            self.emit(r"\Z", 2)
        elif char == "e":
            self.emit(r"\x1b", 2)
        elif char == "k":
            match = re.compile(r"\\k(?:<(\w+)>|'(\w+)')").match(text, self.at)
            if not match:
                self.fail("Malformed \\k<...> named back reference.")
            self.emit(f"(?P={match.group(1) or match.group(2)})", match.end() - self.at)
        elif char in "UN":
            self.fail(f"Unrecognized escape sequence \\{char}.")
        elif char in "pP":
            raise LabUnsupported(f"lab: the .NET Unicode category \\{char}{{...}} in {text!r} is not simulated")
        elif char == "x":
            if not re.compile(r"[0-9A-Fa-f]{2}").match(text, self.at + 2):
                self.fail("Insufficient hex digits.")
            self.emit(text[self.at:self.at + 4], 4)
        elif char == "u":
            if not re.compile(r"[0-9A-Fa-f]{4}").match(text, self.at + 2):
                self.fail("Insufficient hex digits.")
            self.emit(text[self.at:self.at + 6], 6)
        elif char in "cG":
            raise LabUnsupported(f"lab: the .NET escape \\{char} in {text!r} is not simulated")
        elif char.isalpha() and char not in "abfnrtvdDwWsSbBA":
            self.fail(f"Unrecognized escape sequence \\{char}.")
        else:
            self.emit(text[self.at:self.at + 2], 2)

    def char_class(self) -> None:
        text = self.pattern
        start = self.at
        index = start + 1
        if index < len(text) and text[index] == "^":
            index += 1
        if index < len(text) and text[index] == "]":      # a leading ] is a literal
            index += 1
        while index < len(text) and text[index] != "]":
            if text[index] == "\\":
                if index + 1 < len(text) and text[index + 1] in "pP":
                    raise LabUnsupported(f"lab: the .NET Unicode category in {text!r} is not simulated")
                index += 2
                continue
            if text[index] == "-" and index + 1 < len(text) and text[index + 1] == "[":
                raise LabUnsupported(f"lab: .NET character class subtraction in {text!r} is not simulated")
            index += 1
        if index >= len(text):
            self.fail("Unterminated [] set.")
        body = text[start:index + 1]
        # Python warns about (and may one day change) "[[", "--", "&&", "~~", "||": .NET reads them literally.
        body = body[0] + re.sub(r"(?<!\\)([\[&~|])", r"\\\1", body[1:-1]).replace("--", r"-\-") + "]"
        self.emit(body, index + 1 - start)

    def group_open(self) -> int:
        """Translate the group opening at ``self.at``; return how many groups it opens (0 or 1)."""
        text = self.pattern
        rest = text[self.at:]
        if not rest.startswith("(?"):
            self.emit("(", 1, operand=False)
            return 1
        if rest.startswith("(?#"):
            end = text.find(")", self.at)
            if end < 0:
                self.fail("Unterminated (?#...) comment.")
            self.at = end + 1                      # dropped: a comment matches nothing
            return 0
        for same in ("(?:", "(?=", "(?!", "(?<=", "(?<!", "(?>"):
            if rest.startswith(same):
                self.emit(same, len(same), operand=False)
                return 1
        named = re.compile(r"\(\?(?:<([^>]*)>|'([^']*)')").match(text, self.at)
        if named:
            name = named.group(1) if named.group(1) is not None else named.group(2)
            if "-" in name:
                raise LabUnsupported(f"lab: the .NET balancing group in {text!r} is not simulated")
            if not _NAME.fullmatch(name):
                self.fail("Invalid group name: Group names must begin with a word character.")
            if name.isdigit():
                raise LabUnsupported(f"lab: the numbered group (?<{name}>...) in {text!r} is not simulated")
            self.emit(f"(?P<{name}>", named.end() - self.at, operand=False)
            return 1
        if rest.startswith("(?("):
            self.emit("(?(", 3, operand=False)
            return 1
        options = re.compile(r"\(\?([A-Za-z]*)(?:-([A-Za-z]*))?([:)])").match(text, self.at)
        if options and (options.group(1) or options.group(2)):
            letters = (options.group(1) or "") + (options.group(2) or "")
            if not set(letters) <= _DOTNET_OPTIONS:
                self.fail("Unrecognized grouping construct.")
            if "n" in letters:
                raise LabUnsupported(f"lab: the .NET option n (explicit capture) in {text!r} is not simulated")
            if options.group(3) == ")" and self.at != 0:
                raise LabUnsupported(f"lab: an inline option group not at the start of {text!r} is not simulated")
            self.emit(options.group(0), options.end() - self.at, operand=False)
            return 1 if options.group(3) == ":" else 0
        self.fail("Unrecognized grouping construct.")
        return 0  # pragma: no cover - fail raises
