"""GoodJob's and sidekiq's recurring entries scheduled in RedBeat and fired through a worker."""

from __future__ import annotations

import json

import pytest

from tests.integration.test_recurring_beat import Project, ticks
from tests.support.worker import wait_for

pytestmark = pytest.mark.slow

OTHER_FLAVOURS = """\
test:
  goodjob_tick:                 # config.good_job.cron, as GoodJob's guide writes it
    cron: "* * * * *"
    class: "AjRecurring::TickJob"
    args: [goodjob]
    set: {priority: 3}
    description: GoodJob's cron key
  sidekiq_tick:                 # sidekiq-scheduler
    every: "1s"
    class: TickJob
    args: [sidekiq]
  first:                        # sidekiq-scheduler, hourly, first run 2 s after it is added
    every: ["1h", {first_in: "2s"}]
    class: TickJob
    args: [first]
  paused:                       # sidekiq-cron
    cron: "0 0 * * * *"
    class: TickJob
    status: disabled
  three_times:
    class: TickJob
    schedule: every day at 9am, 3pm, 9pm
  two_times:
    class: TickJob
    schedule: every day at 9:30am and 5pm
"""


@pytest.mark.extended
def test_a_goodjob_cron_entry_fires_through_redbeat_and_the_worker(tmp_path, aj_redis):
    project = Project(tmp_path, aj_redis.url)
    project.yml.write_text(OTHER_FLAVOURS)
    client = aj_redis.client
    with project.worker() as worker, project.beat("beat") as beat:
        worker.wait_ready(timeout=40)
        wait_for(lambda: len(ticks(client, "sidekiq")) >= 2, timeout=60)
        wait_for(lambda: ticks(client, "first"), timeout=60)
        # A cron line runs on the minute: wait for the next minute boundary (and then some).
        wait_for(lambda: ticks(client, "goodjob"), timeout=150, interval=0.5)
        added = "added ['goodjob_tick', 'sidekiq_tick', 'first', 'three_times', 'two_times']"
        assert added in beat.log_text()

    listed = project.celery("jobs", "recurring", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = {row["key"]: row for row in json.loads(listed.stdout)}
    assert sorted(rows) == ["first", "goodjob_tick", "sidekiq_tick", "three_times", "two_times"]
    assert len(ticks(client, "first")) == 1 and rows["first"]["total_run_count"] == 1
    assert rows["goodjob_tick"]["schedule"] == "* * * * *"
    assert rows["goodjob_tick"]["class"] == "aj_recurring.TickJob"
    assert rows["goodjob_tick"]["description"] == "GoodJob's cron key"
    assert rows["sidekiq_tick"]["schedule"] == "every 1 second"
    assert rows["three_times"]["next_run_at"][11:19] in ("09:00:00", "15:00:00", "21:00:00")
    assert rows["two_times"]["next_run_at"][11:19] in ("09:30:00", "17:00:00")
    assert rows["two_times"]["schedule"] == "every day at 9:30am and 5pm"  # one row, one key
    assert not client.exists("redbeat:activejob:recurring:paused")  # status: disabled
