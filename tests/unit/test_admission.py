"""The in-flight image budget: admission by images, released whatever happens."""

import pytest

from serve_app.admission import ImageBudget, Overloaded


def test_budget_counts_images_not_requests():
    budget = ImageBudget(limit=10, retry_after_s=2.0)
    budget.acquire(6)
    budget.acquire(4)
    with pytest.raises(Overloaded) as err:
        budget.acquire(1)
    assert err.value.retry_after_s == 2.0 and budget.refused == 1
    with pytest.raises(Overloaded):
        budget.acquire(5)
    assert budget.refused == 2 and budget.refused_images == 6  # the demand turned away
    budget.release(4)
    budget.acquire(3)
    assert budget.in_flight == 9


def test_an_oversized_request_is_admitted_alone_never_starved():
    budget = ImageBudget(limit=4)
    budget.acquire(8)
    with pytest.raises(Overloaded):
        budget.acquire(1)
    budget.release(8)
    assert budget.in_flight == 0


def test_holding_releases_what_was_taken_even_on_error():
    budget = ImageBudget(limit=5)
    with pytest.raises(RuntimeError), budget.holding() as take:
        take(3)
        assert budget.in_flight == 3
        raise RuntimeError("cascade failed")
    assert budget.in_flight == 0
    with budget.holding() as take:  # refused: nothing taken, nothing released
        budget.acquire(5)
        with pytest.raises(Overloaded):
            take(1)
    assert budget.in_flight == 5


def test_limit_must_be_positive():
    with pytest.raises(ValueError):
        ImageBudget(limit=0)
