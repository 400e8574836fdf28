"""The layer syntax shared by --layers and --layer, and its inverse used in messages and reports."""
import pytest

from layerprobe.errors import UserError
from layerprobe.layer_spec import format_layers, parse_layers


@pytest.mark.parametrize("text, layers", [("all", None), ("11", [11]), ("0,6,12", [0, 6, 12]),
                                          ("3-6", [3, 4, 5, 6]), ("0, 3-4, 12", [0, 3, 4, 12])])
def test_parse(text, layers):
    assert parse_layers(text) == layers


@pytest.mark.parametrize("text", ["x", "3-1", "-2", "1,,2", "1-", "0,3-"])
def test_bad_syntax_is_a_user_error(text):
    with pytest.raises(UserError, match="use all, N"):
        parse_layers(text)


def test_format_is_the_inverse_of_parse():
    assert format_layers([5, 0, 1, 2]) == "0-2,5" and format_layers([]) == "none"
    assert parse_layers(format_layers([0, 1, 2, 5, 7, 8])) == [0, 1, 2, 5, 7, 8]
