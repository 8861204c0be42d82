"""Every catalogue of published events: each service's Kafka wiring
(``services/<name>/messages.py``), the access log's and the chain checkpoints'. Found by
import, so that the shared kernel names no service's module."""

import importlib

from shared.accesslog import CATALOGUE as ACCESS_CATALOGUE
from shared.checkpoints import CATALOGUE as CHECKPOINT_CATALOGUE
from shared.kafka import SERVICES
from shared.publishing import EventCatalogue


def published_catalogues() -> list[EventCatalogue]:
    """Every catalogue of published events, from each service's Kafka wiring, the access
    log's and the chain checkpoints'."""
    return [ACCESS_CATALOGUE, CHECKPOINT_CATALOGUE] + [
        catalogue
        for service in SERVICES
        for name, catalogue in vars(importlib.import_module(f"services.{service}.messages")).items()
        if name.endswith("CATALOGUE") and isinstance(catalogue, EventCatalogue)
    ]
