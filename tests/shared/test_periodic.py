import asyncio
from datetime import timedelta

from shared.periodic import running_every


async def test_the_job_runs_every_interval_survives_failures_and_stops_on_exit() -> None:
    runs = 0

    async def flaky() -> int:
        nonlocal runs
        runs += 1
        if runs == 1:
            raise RuntimeError("database blip")
        return runs

    async with running_every(timedelta(milliseconds=20), "flaky", flaky):
        assert runs == 0  # not at start-up
        await asyncio.sleep(0.15)
    seen = runs
    assert seen >= 3  # the first failure did not end the loop
    await asyncio.sleep(0.05)
    assert runs == seen  # stopped with the context
