"""utils.text2text: the generated text-to-text tasks."""

import random

import pytest

from utils import text2text as TT


def test_each_task_gives_right_targets():
    rng = random.Random(0)
    for task in TT.TASKS:
        inp, target = TT.make_example(task, rng)
        assert inp.startswith(TT.TASKS[task] + " ")
        assert target
    assert TT.make_example("fr_number", random.Random(1))[0].startswith("translate English to")


def test_known_values():
    from num2words import num2words

    english = {num2words(n, lang="en"): n for n in range(10_000)}
    assert len(english) == 10_000  # the English words name each number once
    for task, inp, target in TT.make_examples(40, ("fr_number", "de_number", "reverse"), seed=3):
        body = inp.split(": ", 1)[1]
        if task == "reverse":
            assert target.split() == body.split()[::-1]
            assert len(set(body.split())) == len(body.split())  # different words
        else:
            assert target == num2words(english[body], lang=task[:2])


def test_summarize_extracts_the_fields():
    for _, inp, target in TT.make_examples(20, ("summarize",), seed=1):
        company, measure, amount, city = target.split(" | ")
        assert company in inp and measure in inp and city in inp
        assert amount.replace(" million", "") in inp


def test_dates_in_french():
    _, inp, target = TT.make_examples(1, ("fr_date",), seed=0)[0]
    year = inp.split(": ")[1][:4]
    assert target.endswith(year)
    month_words = "janvier février mars avril mai juin juillet août septembre octobre "
    month_words += "novembre décembre"
    assert target.split()[1] in month_words.split()


def test_repeatable_and_tasks_in_turn():
    a, b = TT.make_examples(10, seed=5), TT.make_examples(10, seed=5)
    assert a == b and a != TT.make_examples(10, seed=6)
    assert [t for t, _, _ in a[:5]] == list(TT.TASKS)


def test_split_has_no_overlap():
    train, test = TT.split_examples(500, 100, seed=0)
    assert len(train) == 500 and len(test) == 100
    assert not {i for _, i, _ in train} & {i for _, i, _ in test}


def test_bad_input():
    with pytest.raises(ValueError, match="unknown task"):
        TT.make_example("poetry", random.Random(0))
    with pytest.raises(TypeError):
        TT.make_example("reverse", 0)
    with pytest.raises(ValueError):
        TT.make_examples(0)
    with pytest.raises(ValueError):
        TT.make_examples(3, tasks=())
    with pytest.raises(ValueError):
        TT.split_examples(10, 0)
