"""The pure domain core: profiles, features, models and rules, in event time; no Kafka, no Faust."""

import schemas  # noqa: F401  first: schemas.compiled decides which build of the core's modules loads
