"""`ragship serve --ray`: the same HTTP app as Ray Serve replicas behind Ray's HTTP proxy, on a local Ray or a
cluster (`--ray-address`). Ray Serve adds and removes replicas with the queue (autoscaling between 1 and
`--replicas`); each replica builds the app from the settings the command was started with and, like every
`serve` process, follows the live pointer at each request, so a promotion or rollback reaches every replica
at its next request. Rate limits are counted in the state store (`state.url` for replicas on several machines).
"""

from __future__ import annotations

import os
import signal
import sys
import time

from ragship.errors import ConfigError

# what each replica must see as the driver did: the settings and the object store's credentials
PASSED_ON = ("RAGSHIP_", "AWS_", "GOOGLE_", "AZURE_", "HF_", "TRANSFORMERS_")


class Replica:
    """One replica: the app of `ragship.server.app.from_environment`, built on the replica (Ray Serve calls
    `__serve_build_asgi_app__` after the constructor and runs the app's lifespan: the model loads before the
    replica takes requests)."""

    def __init__(self, environment: dict[str, str]):
        os.environ.update(environment)

    def __serve_build_asgi_app__(self):
        from ragship.server.app import from_environment

        return from_environment()


def run(home: str, host: str, port: int, replicas: int, address: str | None) -> None:
    """Deploy `replicas` (at most; autoscaled from 1) and block until interrupted."""
    ray, serve = _import_ray_serve()
    ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False,
             ignore_reinit_error=True)
    environment = {k: v for k, v in os.environ.items() if k.startswith(PASSED_ON)} | {"RAGSHIP_HOME": home}
    serve.start(http_options={"host": host, "port": port}, logging_config={"log_level": "WARNING"})
    deployment = serve.deployment(
        serve.ingress()(Replica), name="ragship", ray_actor_options={"num_cpus": 1},
        max_ongoing_requests=16, health_check_period_s=5,
        autoscaling_config={"min_replicas": 1, "initial_replicas": replicas, "max_replicas": replicas,
                            "target_ongoing_requests": 4, "upscale_delay_s": 5, "downscale_delay_s": 120})
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # a plain kill stops the replicas and a local Ray too
    try:
        serve.run(deployment.bind(environment), name="ragship", route_prefix="/", blocking=False)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        serve.shutdown()
        ray.shutdown()


def _import_ray_serve():
    try:
        import ray
        from ray import serve
    except ImportError:
        raise ConfigError("--ray needs Ray Serve: `pip install 'ragship[ray]'` (ray[serve,data]==2.60.0)") from None
    return ray, serve
