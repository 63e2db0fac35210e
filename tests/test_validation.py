"""utils.validation: TypeError for a wrong type, ValueError for a wrong value, and messages that
name the argument, what was expected and what was given."""

import math

import numpy as np
import pytest
import torch

from utils import validation as V


def test_checkers_return_what_they_checked():
    x = torch.zeros(2, 3, dtype=torch.int64)
    assert V.check_positive_int("n", 3) == 3
    assert V.check_non_negative_int("i", 0) == 0
    assert V.check_int("k", -5) == -5
    assert V.check_number("lr", 0.1, low=0, low_open=True) == 0.1
    assert V.check_number("x", np.float32(0.5)) == np.float32(0.5)  # any real number
    assert V.check_probability("p", 0.0) == 0.0 and V.check_probability("p", 1, allow_one=True)
    assert V.check_choice("kind", "rnn", ("rnn", "lstm")) == "rnn"
    assert V.check_type("text", "abc", str, "a str") == "abc"
    assert V.check_tensor("x", x, ndim=2) is x
    assert V.check_shape("x", x, (None, 3)) is x
    assert V.check_dtype("x", x, V.INTEGER_DTYPES) is x
    assert V.check_ids("ids", x, vocab_size=1) is x


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (
            lambda: V.check_positive_int("d_model", 0),
            ValueError,
            "d_model must be a positive int, got 0",
        ),
        (
            lambda: V.check_positive_int("d_model", -3),
            ValueError,
            "d_model must be a positive int, got -3",
        ),
        (
            lambda: V.check_positive_int("d_model", 2.0),
            TypeError,
            "d_model must be a positive int, got float 2.0",
        ),
        (
            lambda: V.check_positive_int("d_model", True),
            TypeError,
            "d_model must be a positive int, got bool True",
        ),
        (
            lambda: V.check_positive_int("d_model", "8"),
            TypeError,
            "d_model must be a positive int, got str '8'",
        ),
        (
            lambda: V.check_non_negative_int("eos_id", -1),
            ValueError,
            "eos_id must be a non-negative int, got -1",
        ),
        (
            lambda: V.check_int("length", 1, minimum=2),
            ValueError,
            "length must be an int >= 2, got 1",
        ),
        (lambda: V.check_int("k", None), TypeError, "k must be an int, got NoneType None"),
    ],
)
def test_int_checks(call, error, message):
    with pytest.raises(error) as info:
        call()
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("kwargs", "value", "error", "message"),
    [
        ({"low": 0, "low_open": True}, 0.0, ValueError, "lr must be a number > 0, got 0.0"),
        ({"low": 0}, -1, ValueError, "lr must be a number >= 0, got -1"),
        ({"high": 1, "high_open": True}, 1.0, ValueError, "lr must be a number < 1, got 1.0"),
        ({"low": 0, "high": 1}, 1.5, ValueError, "lr must be a number in [0, 1], got 1.5"),
        (
            {"low": 0, "high": 1, "low_open": True, "high_open": True},
            0,
            ValueError,
            "lr must be a number in (0, 1), got 0",
        ),
        ({"low": 0}, math.nan, ValueError, "lr must be a finite number >= 0, got nan"),
        ({}, math.inf, ValueError, "lr must be a finite number, got inf"),
        ({"low": 0}, "0.1", TypeError, "lr must be a number >= 0, got str '0.1'"),
        ({}, False, TypeError, "lr must be a number, got bool False"),
        ({}, torch.tensor(0.1), TypeError, "lr must be a number, got a tensor of shape ()"),
    ],
)
def test_number_checks(kwargs, value, error, message):
    with pytest.raises(error) as info:
        V.check_number("lr", value, **kwargs)
    assert str(info.value).startswith(message)


def test_probability_and_choice():
    with pytest.raises(ValueError, match=r"^dropout must be a number in \[0, 1\), got 1$"):
        V.check_probability("dropout", 1)
    with pytest.raises(ValueError, match=r"^p must be a number in \[0, 1\], got 1\.5$"):
        V.check_probability("p", 1.5, allow_one=True)
    with pytest.raises(ValueError, match=r"^kind must be one of 'rnn', 'lstm', got 'gru'$"):
        V.check_choice("kind", "gru", ("rnn", "lstm"))
    with pytest.raises(ValueError, match="activation must be one of 'relu', got"):
        V.check_choice("activation", ["relu"], {"relu": None})  # unhashable: not one of them


def test_type_check():
    with pytest.raises(TypeError, match=r"^text must be a str, got bytes b'abc'$"):
        V.check_type("text", b"abc", str, "a str")
    with pytest.raises(TypeError, match="seed must be an int or None, got bool True"):
        V.check_type("seed", True, (int, type(None)), "an int or None")
    assert V.check_type("flag", True, bool, "a bool") is True
    long = "x" * 100
    with pytest.raises(TypeError, match=r"got str 'xxx+\.\.\.$"):  # long values are cut short
        V.check_type("n", long, int, "an int")


def test_tensor_checks():
    x = torch.zeros(2, 5)
    with pytest.raises(
        TypeError, match=r"^ids must be a tensor \(batch, seq\), got list \[1, 2\]$"
    ):
        V.check_tensor("ids", [1, 2], ndim=2, dims="(batch, seq)")
    with pytest.raises(ValueError, match=r"^ids must be \(batch, seq\), got shape \(5,\)$"):
        V.check_tensor("ids", torch.zeros(5), ndim=2, dims="(batch, seq)")
    with pytest.raises(ValueError, match=r"^q must be a tensor with at least 2 dimensions, got"):
        V.check_tensor("q", torch.zeros(5), min_ndim=2)
    with pytest.raises(ValueError, match=r"^x must be a 3-D tensor, got shape \(2, 5\)$"):
        V.check_tensor("x", x, ndim=3)
    with pytest.raises(ValueError, match=r"^x must be of shape \(\*, 4\), got shape \(2, 5\)$"):
        V.check_shape("x", x, (None, 4))
    with pytest.raises(ValueError, match=r"^x must be \(batch, d=4\), got shape \(2, 5, 1\)$"):
        V.check_shape("x", x[..., None], (None, 4), dims="(batch, d=4)")
    with pytest.raises(TypeError, match=r"^mask must be a bool mask, got dtype torch\.float32$"):
        V.check_dtype("mask", x, torch.bool, "a bool mask")
    with pytest.raises(TypeError, match=r"must be a tensor of dtype torch\.int32 or torch\.int64"):
        V.check_dtype("ids", x, (torch.int32, torch.int64))


def test_ids_check():
    ids = torch.tensor([[0, 3], [2, 1]])
    with pytest.raises(ValueError, match=r"^ids must lie in \[0, 3\) .*, got ids from 0 to 3$"):
        V.check_ids("ids", ids, vocab_size=3)
    with pytest.raises(TypeError, match=r"ids must be an int64 tensor \(batch, seq\) of token ids"):
        V.check_ids("ids", ids.int())
    with pytest.raises(ValueError, match=r"got shape \(4,\)"):
        V.check_ids("ids", ids.flatten())
    assert V.check_ids("ids", torch.zeros(0, 0, dtype=torch.int64), vocab_size=3).numel() == 0
