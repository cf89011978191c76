#!/usr/bin/env python3
"""Doxygen INPUT_FILTER for the sanstls headers.

The headers keep BoringSSL's comment style: plain // comments, a file comment
with an Example: block at the top, a comment right above each declaration,
parameters written as |name|. Doxygen only reads ///, so this rewrites those
comments into Doxygen's form and prints the header to stdout:

  usage: doxygen_filter.py HEADER

It prints exactly one line per input line, so that Doxygen's warnings name
the lines of the real header.
"""

import re
import sys

COMMENT = re.compile(r'^(\s*)//(?!/)(.*)$')
# A comment after a member or enumerator: "int x = 0;  // why".
TRAILING = re.compile(r'^(.*?[;,])(\s+)//(?!/)(.*)$')
# Text indented past the comment's own margin ("//   code") is an example or
# a diagram, to be shown as written rather than reflowed as prose.
INDENTED = re.compile(r'^ {3,}\S')
PARAMETER = re.compile(r'\|([A-Za-z_][\w.]*)\|')
SCOPE = re.compile(r'\b(namespace|class|struct|union|enum)\b')
# What can follow a comment block without being what it documents.
NOT_A_DECLARATION = re.compile(r'\s*(}|#\s*(include|if|endif|else))')


def prose(text):
    # A backslash in the headers is a C escape ("\n"), #if a directive and
    # <name> a placeholder, not a Doxygen command, link or HTML tag.
    text = re.sub(r'([#<])', r'\\\1', text.replace('\\', '\\\\'))
    return PARAMETER.sub(r'`\1`', text)


def doc_block(texts, first_prefix=''):
    """Turns the text of a comment block into Doxygen lines (without ///)."""
    out = [prose(t) for t in texts]
    i = 0
    while i < len(texts):
        starts_code = (INDENTED.match(texts[i]) and i > 0 and
                       (texts[i - 1].strip() == '' or texts[i - 1].rstrip().endswith(':')))
        if not starts_code:
            i += 1
            continue
        end = i
        while end + 1 < len(texts) and (INDENTED.match(texts[end + 1]) or
                                        texts[end + 1].strip() == ''):
            end += 1
        while texts[end].strip() == '':
            end -= 1
        # @code and @endcode ride on existing lines to keep the line count.
        out[i - 1] += ' @code'
        out[i:end + 1] = texts[i:end + 1]
        out[end] += ' @endcode'
        i = end + 1
    if out:
        out[0] = first_prefix + out[0]
    return out


def strip_code(code):
    # Braces and // inside string literals are neither scopes nor comments.
    code = re.sub(r'"(\\.|[^"\\])*"|\'(\\.|[^\'\\])*\'', '""', code)
    return code.split('//', 1)[0]


class Scopes:
    """Tells declarations from function bodies: comments in bodies stay plain."""

    def __init__(self):
        self.stack = []  # True for namespace/class/enum braces
        self.head = ''   # the statement so far, to classify the next brace

    def at_declaration_level(self):
        return all(self.stack)

    def feed(self, code):
        for ch in strip_code(code):
            if ch == '{':
                self.stack.append(bool(SCOPE.search(self.head)) and '(' not in self.head)
                self.head = ''
            elif ch == '}':
                if self.stack:
                    self.stack.pop()
                self.head = ''
            elif ch == ';':
                self.head = ''
            else:
                self.head += ch


def filter_header(path, lines):
    out = list(lines)
    n = len(lines)
    i = 0

    # The file comment: everything before the first line of code.
    while i < n and COMMENT.match(lines[i]):
        i += 1
    if i:
        texts = [COMMENT.match(line).group(2) for line in lines[:i]]
        # "// sanstls/x.hpp: what it is" names the file Doxygen already knows.
        texts[0] = re.sub(r'^\s*\S+\.hpp(\.in)?:\s*', '', texts[0])
        out[:i] = ['///' + t for t in doc_block(texts, f' @file {path} ')]

    scopes = Scopes()
    in_directive = False
    while i < n:
        line = lines[i]
        directive = in_directive or line.lstrip().startswith('#')
        in_directive = directive and line.endswith('\\')
        if COMMENT.match(line):
            start = i
            while i < n and COMMENT.match(lines[i]):
                i += 1
            nxt = lines[i] if i < n else ''
            # Only a block right above a declaration documents it; one above
            # lines that carry their own comments is a heading for a group.
            if (scopes.at_declaration_level() and nxt.strip() and
                    not NOT_A_DECLARATION.match(nxt) and not TRAILING.match(nxt)):
                found = [COMMENT.match(l) for l in lines[start:i]]
                body = doc_block([m.group(2) for m in found])
                out[start:i] = [m.group(1) + '///' + t for m, t in zip(found, body)]
            continue
        if not directive:
            m = TRAILING.match(line)
            if m and scopes.at_declaration_level():
                out[i] = m.group(1) + m.group(2) + '///<' + prose(m.group(3))
            scopes.feed(line)
        i += 1
    return out


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    path = sys.argv[1]
    with open(path, encoding='utf-8') as f:
        lines = f.read().split('\n')
    sys.stdout.write('\n'.join(filter_header(path, lines)))


if __name__ == '__main__':
    main()
