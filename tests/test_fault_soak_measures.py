"""The fault soak's stall figures (bench/_soak_measure.py), from made-up observations."""

from bench._soak_measure import Sample, first_after, longest_account_wait, longest_stall


def samples(waiting_at: dict, until: int) -> list[Sample]:
    """One sample a second; `waiting_at`: second -> accounts waiting (None: database down)."""
    return [Sample(float(t), waiting_at[t] if t in waiting_at else frozenset())
            for t in range(until + 1)]


def test_a_stall_runs_from_the_first_sample_with_mail_waiting_to_the_next_delivery():
    observed = samples({t: frozenset({1}) for t in range(10, 19)}, 30)
    stall = longest_stall(observed, [5.0, 18.5, 25.0], start=0, end=30)
    assert (stall.seconds, stall.start, stall.ongoing) == (8.5, 10.0, False)


def test_it_is_measured_from_the_end_of_the_fault():
    observed = samples({t: frozenset({1}) for t in range(0, 21)}, 30)
    stall = longest_stall(observed, [20.5], start=12, end=30)
    assert (stall.seconds, stall.start) == (8.5, 12.0)


def test_a_stall_still_on_when_the_window_closes_is_marked_ongoing():
    observed = samples({t: frozenset({1}) for t in range(5, 31)}, 30)
    stall = longest_stall(observed, [2.0], start=0, end=30)
    assert (stall.seconds, stall.ongoing) == (25.0, True)


def test_mail_no_longer_due_ends_a_stall_without_a_delivery():
    # e.g. the account backs off after an error: nothing is due any more.
    observed = samples({t: frozenset({1}) for t in range(3, 7)}, 30)
    assert longest_stall(observed, [], start=0, end=30).seconds == 4.0


def test_samples_taken_while_the_database_was_down_neither_begin_nor_end_one():
    waiting = {t: frozenset({1}) for t in range(2, 12)}
    waiting.update({5: None, 6: None})
    observed = samples(waiting, 30)
    assert longest_stall(observed, [11.5], start=0, end=30).seconds == 9.5
    assert longest_stall(samples({5: None, 6: None}, 30), [], start=0, end=30).seconds == 0


def test_deliveries_of_other_accounts_do_not_end_one_accounts_wait():
    observed = samples({t: frozenset({1, 2}) for t in range(4, 16)}, 30)
    deliveries = {1: [4.5, 6.5, 8.5, 10.5], 2: [15.5]}
    everyone = sorted(t for times in deliveries.values() for t in times)
    # From the first sample after 10.5 (11) to 15.5: account 1 delivered until then.
    assert longest_stall(observed, everyone, start=0, end=30).seconds == 4.5
    account, wait = longest_account_wait(observed, deliveries, start=0, end=30)
    assert (account, wait.seconds, wait.start) == (2, 11.5, 4.0)


def test_first_delivery_after_the_fault():
    assert first_after([1.0, 7.5, 9.0], 5.0) == 2.5
    assert first_after([1.0], 5.0) is None
