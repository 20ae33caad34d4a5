import itertools

from vcam.source import CAUGHT_UP_S, DRIFT_RESET_S, MAX_LAG_S, LagTracker


def test_on_time_frames_never_lag() -> None:
    lag = LagTracker()
    assert not any(lag.update(t / 10, 100 + t / 10 + (0.3 if t % 7 == 0 else 0)) for t in range(1000))


def test_backlog_is_flagged_until_caught_up() -> None:
    lag = LagTracker()
    for t in range(10):
        assert not lag.update(t / 10, t / 10)
    # a slow spell: frames 1.0 s .. 1.9 s of stream time arrive 3 s late
    assert lag.update(1.0, 1.0 + MAX_LAG_S + 1)
    assert lag.update(1.5, 1.5 + MAX_LAG_S)
    # catching up: lag falls below CAUGHT_UP_S
    assert not lag.update(3.0, 3.0 + CAUGHT_UP_S / 2)


def test_clock_drift_is_not_a_backlog_for_ever() -> None:
    lag = LagTracker()
    flagged_at = []
    for step in range(0, 6000):
        stream = step / 10
        arrival = stream * 1.01  # the camera's clock runs 1 % slow
        if lag.update(stream, arrival):
            flagged_at.append(arrival)
    assert flagged_at, "drift of this size does look like lag at first"
    assert len(flagged_at) < 6000 / 10  # skipping frames is rare, not the normal state
    assert all(stretch <= DRIFT_RESET_S + 0.2 for stretch in _stretches(flagged_at))


def test_a_timestamp_jump_starts_afresh() -> None:
    lag = LagTracker()
    lag.update(0.0, 0.0)
    lag.update(50.0, 0.1)  # camera reset its clock forward
    assert not lag.update(50.1, 0.2)
    assert not lag.update(0.0, 0.3)  # and back


def _stretches(times: list[float]) -> list[float]:
    stretches, start = [], times[0]
    for a, b in itertools.pairwise(times):
        if b - a > 0.5:
            stretches.append(a - start)
            start = b
    stretches.append(times[-1] - start)
    return stretches
