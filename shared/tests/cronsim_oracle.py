"""Fire times by cronsim, the reference for Debian cron's DST rules (shared/tests/cronsim_differential.rs).

Reads one JSON case per line on stdin: {"expr", "zone", "start", "end", "cap"} (Unix seconds);
writes one JSON array per line: the Unix seconds of the fires in (start, end], at most cap.
"""

import json
import sys
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

try:
    from cronsim import CronSim
except ImportError:
    sys.stderr.write("cronsim is not installed: python3 -m pip install cronsim==2.8\n")
    sys.exit(3)


def fires(case):
    tz = ZoneInfo(case["zone"])
    start = datetime.fromtimestamp(case["start"], timezone.utc).astimezone(tz)
    out = []
    for dt in CronSim(case["expr"], start):
        ts = int(dt.timestamp())
        if ts > case["end"] or len(out) >= case["cap"]:
            break
        out.append(ts)
    return out


for line in sys.stdin:
    if line.strip():
        print(json.dumps(fires(json.loads(line))))
