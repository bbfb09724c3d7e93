"""Parse Prometheus text exposition from stdin with the reference client's parser
(pip `prometheus-client`) and print its families as JSON: what /metrics serves must be what
Prometheus reads. Exit 3 when the parser is not installed."""
import json
import sys

try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError:
    sys.exit(3)

out = []
for f in text_string_to_metric_families(sys.stdin.read()):
    out.append({
        "name": f.name,
        "type": f.type,
        "samples": [{"name": s.name, "labels": s.labels, "value": s.value} for s in f.samples],
    })
json.dump(out, sys.stdout)
