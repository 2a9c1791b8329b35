"""A-labels (``xn--...``) in ``hostname`` / ``idn-hostname``: refused by default (whether the
Punycode decodes to a valid U-label is not regular, see formats.py), accepted by syntax only
under ``lenient=True`` with a warning (a documented superset).  Verdicts through the matcher
on a byte vocabulary, against a reference predicate of the label syntax."""

from __future__ import annotations

import re

import pytest

from constrain import compile_json_schema
from constrain.frontends.json_schema.context import SchemaWarning
from tests.constrain.frontends.test_allof import accepts, byte_vocab  # noqa: F401  (fixture)

A_LABELS = ["xn--9n2bp8q.xn--9t4b11yi5a", "xn--ihqwcrb4cv8a8dqg056pqjye", "xn--ll-0ea", "XN--aa---o47jg78q",
            "xn--X", "xn--hello-txk", "a.xn--wgbh1c", "Xn--q" + "a" * 58]
NOT_HOSTS = ["xn--example-", "-xn--a", "xn--", "xn--a" + "a" * 59, "xn--a_b", "xn--a..b", ""]
PLAIN = ["example.com", "co--m", "a-b.c", "a" * 63]

RFC1123 = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")


def host_syntax(name: str) -> bool:
    return len(name) <= 253 and all(RFC1123.fullmatch(lb) for lb in name.split("."))


def a_label_syntax(name: str) -> bool:
    """idn-hostname's ASCII names, lenient: NR-LDH labels or xn-- labels."""
    return all(RFC1123.fullmatch(lb) and (lb[2:4] != "--" or lb[:2].lower() == "xn") for lb in name.split("."))


@pytest.mark.parametrize("fmt", ["hostname", "idn-hostname"])
def test_default_refuses_every_a_label(byte_vocab, fmt):
    c = compile_json_schema({"format": fmt}, byte_vocab)
    assert not any(accepts(c, byte_vocab, f'"{t}"') for t in A_LABELS + NOT_HOSTS)
    assert accepts(c, byte_vocab, '"example.com"')


@pytest.mark.parametrize("fmt,ref", [("hostname", host_syntax), ("idn-hostname", a_label_syntax)])
def test_lenient_takes_a_labels_by_syntax(byte_vocab, fmt, ref):
    with pytest.warns(SchemaWarning, match="A-labels"):
        c = compile_json_schema({"format": fmt}, byte_vocab, lenient=True)
    bad = [t for t in A_LABELS + NOT_HOSTS + PLAIN if accepts(c, byte_vocab, f'"{t}"') != ref(t)]
    assert bad == []
    assert all(ref(t) for t in A_LABELS)
