"""What the reliability tests share: the sleep-bound model they serve and a LoadGen bound to a
berthd. berth_helpers (tests/integration) is on the path through conftest.py."""

from loadgen import LoadGen

# The model's time per request: sleep-bound, so two shared cores hold the load.
MODEL_SLEEP_MS = 20


def model_body(rid):
    """A request the test server answers after MODEL_SLEEP_MS, echoing the id."""
    return {"id": rid, "sleep_ms": MODEL_SLEEP_MS}


def sleep_model(version="v1", instances=1, mcr=1, request_timeout_ms=30000, **overrides):
    """Overrides for berth_helpers.deployment_doc: the test server (tests/servers/test_server.py)
    as a sleep-bound model that answers {"echo": {"id": ...}, "env": {"TEST_VERSION": version}},
    one request at a time per instance, probed every second from the start."""
    doc = {
        "instance_count": instances,
        "environment_variables": {"TEST_VERSION": version},
        "request_settings": {"max_concurrent_requests_per_instance": mcr,
                             "request_timeout_ms": request_timeout_ms,
                             "max_queue_wait_ms": request_timeout_ms},
        "readiness_probe": {"initial_delay": 0, "period": 1, "timeout": 2,
                            "failure_threshold": 30},
        "liveness_probe": {"initial_delay": 1, "period": 1, "timeout": 2,
                           "failure_threshold": 3},
    }
    doc.update(overrides)
    return doc


def version_of(outcome):
    """The TEST_VERSION an answer came from, or None."""
    answer = outcome.answer
    if not isinstance(answer, dict) or not isinstance(answer.get("env"), dict):
        return None
    return answer["env"].get("TEST_VERSION")


def loadgen_for(d, endpoint, key, **kwargs):
    """A LoadGen against berthd `d`'s /score of `endpoint` (127.0.0.1 only)."""
    kwargs.setdefault("body", model_body)
    return LoadGen(d.port, f"/endpoints/{endpoint}/score", key=key, **kwargs)


def target_utilization(min_instances, max_instances, target=70, polling_interval=1,
                       scale_down_delay=5):
    """scale_settings for autoscaling (Azure's Kubernetes fields; scale_down_delay is berth's:
    seconds the load must stay lower before a scale-down, and the idle time before scaling to
    zero)."""
    return {"type": "target_utilization", "min_instances": min_instances,
            "max_instances": max_instances, "target_utilization_percentage": target,
            "polling_interval": polling_interval, "scale_down_delay": scale_down_delay}


# Instance states of `online-deployment show` that no longer count: on their way out or gone.
GONE_STATES = ("Stopping", "Exited")


def live_instances(deployment):
    """The instances of a shown deployment that run or are starting."""
    return [i for i in deployment.get("instances", []) if i.get("state") not in GONE_STATES]


def ready_count(deployment):
    return sum(1 for i in deployment.get("instances", []) if i.get("state") == "Ready")


def scaled_to_zero(deployment):
    """Whether a shown deployment was scaled to zero: `live.scaled_to_zero` says so once no
    instance runs; the instance list must agree."""
    return bool(deployment.get("live", {}).get("scaled_to_zero")) and not live_instances(deployment)
