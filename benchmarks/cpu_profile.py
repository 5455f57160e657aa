"""A Celery worker under cProfile with a CPU-time clock: ``python cpu_profile.py OUT ARGS...``.

Wall-clock profiles of a worker are dominated by waits on Redis; CPU time shows the Python work.
"""

import cProfile
import sys
import time

from celery.__main__ import main

if __name__ == "__main__":
    out = sys.argv[1]
    sys.argv = ["celery", *sys.argv[2:]]
    profiler = cProfile.Profile(time.process_time)
    profiler.enable()
    try:
        main()
    finally:
        profiler.disable()
        profiler.dump_stats(out)
