"""Parses Prometheus text exposition with the reference client library (prometheus_client
from PyPI), not with CloudTask's code, and prints the families as JSON:
[{"name", "type", "samples": [{"name", "labels", "value"}]}]. Exits non-zero on bad input.

usage: parse_metrics.py < metrics.txt
"""

import json
import sys

from prometheus_client.parser import text_string_to_metric_families

families = []
for f in text_string_to_metric_families(sys.stdin.read()):
    families.append(
        {
            "name": f.name,
            "type": f.type,
            "samples": [
                {"name": s.name, "labels": s.labels, "value": s.value} for s in f.samples
            ],
        }
    )
json.dump(families, sys.stdout)
