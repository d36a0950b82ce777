"""The WebSocket hub: the seed's realtime link to every agent's Chrome extension, and
the executor that runs the tasks of ``executor: "extension"`` agents through it.

- :mod:`api.hub.protocol`: frames, close codes, error strings → command errors;
- :mod:`api.hub.connection`: one socket (commands by id, ping, idle timeout);
- :mod:`api.hub.executor`: ``HubExecutor``, the flows' ``Executor`` over a socket;
- :mod:`api.hub.execute`: one task run (flow, step log, outcome);
- :mod:`api.hub.presence`: which process holds which socket (Redis when several do);
- :mod:`api.hub.service`: the hub's database work;
- :mod:`api.hub.hub`: the hub and its lifespan component;
- :mod:`api.hub.endpoint`: ``GET /api/social-agents/ws``.
"""

from api.hub.executor import HubExecutor
from api.hub.hub import Hub, HubTimings, hub_component

__all__ = ["Hub", "HubExecutor", "HubTimings", "hub_component"]
