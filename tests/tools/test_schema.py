"""The parameter schema rejects what a panel or a command line could send it."""

import math

import pytest

from editor.tools.schema import Param


def test_int_param_rejects_infinity_and_fractions_with_its_name():
    p = Param("iterations", int, 3, range=(1, 10))
    for bad in (math.inf, "inf", "2.5", 11, 0):
        with pytest.raises(ValueError, match="iterations"):
            p.validate(bad)
    assert p.validate("4") == 4


def test_schema_itself_is_checked():
    with pytest.raises(ValueError):
        Param("x", float, 1.0)  # numeric without a range
    with pytest.raises(ValueError):
        Param("x", float, 9.0, range=(0, 1))  # default outside its range
    with pytest.raises(ValueError):
        Param("mode", "choice", "a")  # choice without choices


def test_bool_and_choice_parsing():
    b = Param("fast", bool, False)
    assert b.validate("yes") is True and b.validate("off") is False
    with pytest.raises(ValueError, match="fast"):
        b.validate("maybe")
    c = Param("method", "choice", "a", choices=(("a", "A"), ("b", "B")))
    with pytest.raises(ValueError, match="a, b"):
        c.validate("z")
