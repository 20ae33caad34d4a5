import pytest

from vcam import backoff


def test_doubles_up_to_the_cap_without_jitter() -> None:
    delays = [backoff.delay(n, base=5, cap=60, rand=0.0) for n in range(1, 8)]
    assert delays == [5, 10, 20, 40, 60, 60, 60]


def test_jitter_only_shortens_and_stays_within_a_fifth() -> None:
    for n in range(1, 12):
        full = backoff.delay(n, base=2, cap=30, rand=0.0)
        for rand in (0.0, 0.3, 0.999):
            jittered = backoff.delay(n, base=2, cap=30, rand=rand)
            assert 0.8 * full <= jittered <= full <= 30


def test_huge_attempt_counts_do_not_overflow() -> None:
    assert backoff.delay(10_000, base=5, cap=60, rand=0.0) == 60


def test_attempts_start_at_one() -> None:
    with pytest.raises(ValueError, match="attempt"):
        backoff.delay(0, base=1, cap=2, rand=0)


def test_logging_thins_out_as_failures_repeat() -> None:
    logged = [n for n in range(1, 100) if backoff.worth_logging(n)]
    assert logged == [1, 2, 4, 8, 16, 32, 64]
