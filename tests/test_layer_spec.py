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


@pytest.mark.parametrize("text, last", [("0-400000000", 400000000), ("3,100", 100), ("0-99,1000000000000000000000", None)])
def test_a_layer_beyond_what_a_cache_holds_is_refused_before_the_range_is_expanded(text, last):
    last = last or int(text.split(",")[-1])
    with pytest.raises(UserError, match=rf"^layers '{text[:60]}'(\.\.\.)?: layer {last} is beyond 99, the last a cache"):
        parse_layers(text)
    assert parse_layers("0-99") == list(range(100))


def test_a_long_bad_value_is_cut_in_the_message():
    with pytest.raises(UserError) as refused:
        parse_layers("x" * 100_000)
    assert len(str(refused.value)) < 200
