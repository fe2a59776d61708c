"""A scheduled job that is running when the appliance stops ends with a line, not a traceback."""
import asyncio
import datetime as dt
import logging

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from appliance.app import _ends_quietly_at_stop


async def test_a_job_cut_short_by_the_stop_logs_no_error(caplog):
    started = asyncio.Event()

    async def drain():
        started.set()
        await asyncio.sleep(30)

    scheduler = AsyncIOScheduler(timezone=dt.timezone.utc)
    scheduler.add_job(_ends_quietly_at_stop(drain), "interval", seconds=60,
                      next_run_time=dt.datetime.now(dt.timezone.utc))
    with caplog.at_level(logging.INFO):
        scheduler.start()
        await asyncio.wait_for(started.wait(), 5)
        scheduler.shutdown(wait=False)
        await asyncio.sleep(0.1)  # the cancelled job's task runs to its end
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert "drain cut short by the stop; the next run takes it up" in caplog.text


async def test_a_job_that_fails_still_reports_its_failure(caplog):
    ran = asyncio.Event()

    async def broken():
        ran.set()
        raise RuntimeError("head office answered nonsense")

    scheduler = AsyncIOScheduler(timezone=dt.timezone.utc)
    scheduler.add_job(_ends_quietly_at_stop(broken), "interval", seconds=60,
                      next_run_time=dt.datetime.now(dt.timezone.utc))
    scheduler.start()
    await asyncio.wait_for(ran.wait(), 5)
    await asyncio.sleep(0.1)
    scheduler.shutdown(wait=False)
    assert "head office answered nonsense" in caplog.text
